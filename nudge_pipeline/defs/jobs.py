"""Jobs: snapshots, the per-run message flow, customers."""

from __future__ import annotations

import dagster as dg

from nudge_pipeline.defs.assets.customers import customers
from nudge_pipeline.defs.assets.messages import MESSAGE_ASSETS
from nudge_pipeline.defs.assets.snapshots import SNAPSHOT_ASSETS
from nudge_pipeline.defs.partitions import campaign_runs_partitions, customer_groups_partitions

snapshots_job = dg.define_asset_job(
    "snapshots_job",
    selection=dg.AssetSelection.assets(*SNAPSHOT_ASSETS),
    description="Refresh campaigns, campaign_runs, customer_groups and customer_profile_fields.",
)

campaign_run_job = dg.define_asset_job(
    "campaign_run_job",
    selection=dg.AssetSelection.assets(*MESSAGE_ASSETS),
    partitions_def=campaign_runs_partitions,
    description="Export, fetch and load the messages of campaign runs.",
)

customers_job = dg.define_asset_job(
    "customers_job",
    selection=dg.AssetSelection.assets(customers),
    partitions_def=customer_groups_partitions,
    description="Land the customers of customer groups.",
)

ALL_JOBS = [snapshots_job, campaign_run_job, customers_job]
