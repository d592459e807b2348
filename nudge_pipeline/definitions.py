"""The code location: `dagster dev -w workspace.yaml`, `dg dev` and `dg check defs` load `defs`."""

from nudge_pipeline.defs import build_defs

defs = build_defs()
