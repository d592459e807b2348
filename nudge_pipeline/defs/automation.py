"""Declarative Automation: what refreshes by itself after the discovery sensor's finds.

The discovery sensor adds partitions, requests the runs that land new campaign runs, and
reports `new_campaign_runs`, an external asset partitioned by customer group. From those
events the conditions below ask for:

- the snapshots, whenever new runs were reported, so names and run numbers are current;
- the customers of each new customer group, and of each group that new runs address.

Each is asked for once per trigger; what is missing when automation is switched on counts
as a trigger on its first evaluation, so switching it on catches up once. Schedules remain
only for time-driven refreshes.
"""

from __future__ import annotations

import dagster as dg

from nudge_pipeline.defs.partitions import customer_groups_partitions
from nudge_pipeline.settings import read_settings

AUTOMATION_SENSOR = "nudgescribe_automation"
AUTOMATION_INTERVAL_SECONDS = read_settings(
    "automation_interval_seconds"
).automation_interval_seconds

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


automation_sensor = dg.AutomationConditionSensorDefinition(
    AUTOMATION_SENSOR,
    target=dg.AssetSelection.all(),
    minimum_interval_seconds=AUTOMATION_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    # Plain runs, not backfills: in Dagster 1.13.27 an asset backfill that spans several
    # levels of assets and every partition of a dynamic partitions definition fails
    # ("Unable to determine root partitions for backfill").
    emit_backfills=False,
    description="Refreshes the snapshots after new campaign runs were reported, and the "
    "customers of new groups and of groups that new runs address.",
)
