"""The connector as a drop-in: a Component for a `defs.yaml`, or one factory call in Python.

Credentials always come from the NUDGESCRIBE_* environment variables and are passed as
`dg.EnvVar`, so they never enter a `defs.yaml`, run config or the UI. The pool limit of
`nudgescribe_api` is an instance setting (`concurrency.pools` in dagster.yaml, or
`dagster instance concurrency set nudgescribe_api N`): Definitions cannot carry it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

from nudge_pipeline.defs import build_defs
from nudge_pipeline.defs.resources import resources_from_env


def nudgescribe_defs(
    *,
    lake_root: str | None = None,
    warehouse_url: str | None = None,
    publish_stages: Sequence[str] | None = None,
    base_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dg.Definitions:
    """Every Nudgescribe asset, check, sensor, schedule and job, wired to these settings.

    A setting left out is read from its variable (NUDGE_LAKE_ROOT, NUDGE_WAREHOUSE_URL,
    NUDGE_PUBLISH_STAGES, NUDGESCRIBE_BASE_URL); a warehouse URL holding a password belongs
    in NUDGE_WAREHOUSE_URL, not in code or YAML.
    """
    stages = ",".join(publish_stages) if publish_stages else None
    return build_defs(
        resources_from_env(
            environ,
            base_url=base_url,
            lake_root=lake_root,
            warehouse_url=warehouse_url,
            publish_stages=stages,
        )
    )


class NudgescribeComponent(dg.Component, dg.Model, dg.Resolvable):
    """Nudgescribe connector: snapshots, campaign-run messages and customers as assets.

    Lands them as Parquet under `lake_root` and as tables at `warehouse_url`. Only completed
    runs of campaigns at one of `publish_stages` (default Published) are published.
    """

    lake_root: str | None = None
    warehouse_url: str | None = None
    publish_stages: list[str] | None = None
    base_url: str | None = None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return nudgescribe_defs(
            lake_root=self.lake_root,
            warehouse_url=self.warehouse_url,
            publish_stages=self.publish_stages,
            base_url=self.base_url,
        )
