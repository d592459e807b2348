"""Jobs: snapshots, the per-run message flow, customers."""

from __future__ import annotations

import dagster as dg

from nudge_pipeline.defs.assets.customers import customers
from nudge_pipeline.defs.assets.messages import MESSAGE_ASSETS
from nudge_pipeline.defs.assets.snapshots import SNAPSHOT_ASSETS

snapshots_job = dg.define_asset_job(
    "snapshots_job",
    selection=dg.AssetSelection.assets(*SNAPSHOT_ASSETS),
    description="Refresh campaigns, campaign_runs, customer_groups and customer_profile_fields.",
)

campaign_run_job = dg.define_asset_job(
    "campaign_run_job",
    selection=dg.AssetSelection.assets(*MESSAGE_ASSETS),
    description="Export, fetch and load the messages of campaign runs.",
)

customers_job = dg.define_asset_job(
    "customers_job",
    selection=dg.AssetSelection.assets(customers),
    description="Land the customers of customer groups.",
)

ALL_JOBS = [snapshots_job, campaign_run_job, customers_job]
