"""Declarative Automation: what lands by itself once the discovery sensor has found it.

The discovery sensor only discovers: it adds partitions and reports `new_campaign_runs`, an
external asset partitioned by customer group. From those events the conditions below ask for:

- every new partition of `campaign_runs` and `customer_groups` (once: a skipped or failed
  partition is not asked for again until someone materializes it);
- the snapshots, whenever new runs were reported, so names and run numbers are current;
- the customers of each group that new runs address.

Partitions that were never landed when automation is switched on count as new on its first
evaluation, so turning it on catches up once. Schedules remain only for time-driven refreshes.
"""

from __future__ import annotations

import dagster as dg

from nudge_pipeline.defs.partitions import customer_groups_partitions

AUTOMATION_SENSOR = "nudgescribe_automation"
AUTOMATION_INTERVAL_SECONDS = 30

NEW_CAMPAIGN_RUNS = dg.AssetKey("new_campaign_runs")

new_campaign_runs = dg.AssetSpec(
    NEW_CAMPAIGN_RUNS,
    group_name="snapshots",
    partitions_def=customer_groups_partitions,
    kinds={"api"},
    description="Completed campaign runs the discovery sensor found new, by the customer group "
    "they address. Reported by the sensor (never materialized by a run); its events refresh "
    "the snapshots and that group's customers.",
)

_AC = dg.AutomationCondition

# Like since_last_handled(), but the first evaluation does not count as handled: what is
# missing when automation is switched on is asked for once.
_HANDLED = (_AC.newly_requested() | _AC.newly_updated()).with_label("requested_or_updated")


def _once(trigger: dg.AutomationCondition, label: str) -> dg.AutomationCondition:
    return trigger.since(_HANDLED).with_label(label)


NEW_PARTITION = _once(_AC.newly_missing(), "new_partition_since_handled")

# campaign_run_landing: each new partition once, after the snapshot it depends on exists.
LANDING_CONDITION = (NEW_PARTITION & ~_AC.any_deps_missing() & ~_AC.in_progress()).with_label(
    "land_new_campaign_runs"
)

# Snapshots list the API themselves; their deps are lineage, so a missing dep does not block.
SNAPSHOT_CONDITION = (
    _once(_AC.newly_missing() | _AC.any_deps_updated(), "missing_or_deps_updated")
    & ~_AC.in_progress()
).with_label("refresh_after_discovery")

_GROUP_REPORTED = (
    _AC.any_deps_match(_AC.newly_updated())
    .allow(dg.AssetSelection.assets(NEW_CAMPAIGN_RUNS))
    .with_label("new_runs_reported")
)
CUSTOMERS_CONDITION = (
    _once(_AC.newly_missing() | _GROUP_REPORTED, "new_or_reported") & ~_AC.in_progress()
).with_label("land_new_or_addressed_groups")


def with_landing_condition(assets: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """The campaign-run multi-asset with LANDING_CONDITION on each of its specs."""
    return assets.map_asset_specs(
        lambda spec: spec.replace_attributes(automation_condition=LANDING_CONDITION)
    )


automation_sensor = dg.AutomationConditionSensorDefinition(
    AUTOMATION_SENSOR,
    target=dg.AssetSelection.all(),
    minimum_interval_seconds=AUTOMATION_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Evaluates the automation conditions of the Nudgescribe assets; partitioned "
    "requests become backfills, so the backfill policy (25 partitions a run) holds.",
)
