"""Dynamic partitions: one per completed campaign run, one per customer group."""

from __future__ import annotations

import dagster as dg

from nudge_pipeline.landing.keys import (
    RUN_KEY_SEPARATOR,
    PartitionKeyError,
    campaign_run_key,
    customer_group_key,
    parse_campaign_run_key,
)

CAMPAIGN_RUNS = "campaign_runs"
CUSTOMER_GROUPS = "customer_groups"

campaign_runs_partitions = dg.DynamicPartitionsDefinition(name=CAMPAIGN_RUNS)
customer_groups_partitions = dg.DynamicPartitionsDefinition(name=CUSTOMER_GROUPS)

__all__ = [
    "CAMPAIGN_RUNS",
    "CUSTOMER_GROUPS",
    "RUN_KEY_SEPARATOR",
    "PartitionKeyError",
    "campaign_run_key",
    "campaign_runs_partitions",
    "customer_group_key",
    "customer_groups_partitions",
    "parse_campaign_run_key",
]
