"""Imported once by the server process that `sync` forks its run workers from.

Everything a worker needs is imported here, so each fork starts with it loaded. Dagster's
beta/preview notices about its own decorators are silenced as in the `sync` command.
"""

import importlib
import warnings

warnings.filterwarnings("ignore", module=r"dagster(\.|$)")

for module in ("dagster", "dagster_postgres", "nudge_pipeline.defs.run_workers"):
    importlib.import_module(module)

# Imports the assets, jobs, sensors and schedules (resources come later, from the env).
importlib.import_module("nudge_pipeline.defs").build_defs({})
