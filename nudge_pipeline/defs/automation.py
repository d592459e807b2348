"""Declarative Automation: what lands by itself after the discovery sensor's finds.

The discovery sensor only discovers: it adds partitions and reports two external assets,
`found_campaign_runs` (partitioned by campaign run: each new eligible run) and
`new_campaign_runs` (partitioned by customer group: the groups those runs address). From
those events the conditions below ask for:

- each found run's `message_export`, `message_files` and `messages`, in one run per
  partition; a run that is not eligible is never reported, so never asked for;
- the snapshots, whenever new runs were reported, so names and run numbers are current;
- the customers of each new customer group, and of each group that new runs address.

Each is asked for once per trigger; what is missing when automation is switched on counts
as a trigger on its first evaluation, so switching it on catches up once. Schedules remain
only for time-driven refreshes.
"""

from __future__ import annotations

import dagster as dg

from nudge_pipeline.defs.partitions import campaign_runs_partitions, customer_groups_partitions
from nudge_pipeline.settings import read_settings

AUTOMATION_SENSOR = "nudgescribe_automation"
AUTOMATION_INTERVAL_SECONDS = read_settings(
    "automation_interval_seconds"
).automation_interval_seconds

NEW_CAMPAIGN_RUNS = dg.AssetKey("new_campaign_runs")
FOUND_CAMPAIGN_RUNS = dg.AssetKey("found_campaign_runs")
_REPORTED = "Reported by the discovery sensor (never materialized by a run). "


def _reported_by_the_sensor(
    key: dg.AssetKey, group: str, partitions_def: dg.PartitionsDefinition, description: str
) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, group_name=group, partitions_def=partitions_def, kinds={"api"}, description=description
    )


new_campaign_runs = _reported_by_the_sensor(
    NEW_CAMPAIGN_RUNS,
    "snapshots",
    customer_groups_partitions,
    "Completed campaign runs the discovery sensor found new, by the customer group they "
    f"address. {_REPORTED}Its events refresh the snapshots and that group's customers.",
)
found_campaign_runs = _reported_by_the_sensor(
    FOUND_CAMPAIGN_RUNS,
    "messages",
    campaign_runs_partitions,
    "Completed campaign runs, eligible for export, that the discovery sensor found new. "
    f"{_REPORTED}Each event asks automation to land that run; runs that are not eligible are "
    "never reported.",
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


def _reported(key: dg.AssetKey, label: str) -> dg.AutomationCondition:
    """The sensor reported this partition's dependency `key` since the last evaluation."""
    return (
        _AC.any_deps_match(_AC.newly_updated())
        .allow(dg.AssetSelection.assets(key))
        .with_label(label)
    )


CUSTOMERS_CONDITION = (
    _once(
        _AC.newly_missing() | _reported(NEW_CAMPAIGN_RUNS, "new_runs_reported"), "new_or_reported"
    )
    & ~_AC.in_progress()
).with_label("land_new_or_addressed_groups")

_RUN_FOUND = _reported(FOUND_CAMPAIGN_RUNS, "eligible_run_found")
# Reported before automation was switched on (or before its conditions changed), not landed.
_FOUND_EARLIER = (
    _AC.initial_evaluation()
    & _AC.missing()
    & _AC.any_deps_match(~_AC.missing()).allow(dg.AssetSelection.assets(FOUND_CAMPAIGN_RUNS))
).with_label("found_earlier_and_missing")
# On `message_export`: a run reported found is landed once.
EXPORT_CONDITION = (_once(_RUN_FOUND | _FOUND_EARLIER, "found") & ~_AC.in_progress()).with_label(
    "land_found_runs"
)
# On `message_files` and `messages`: in the same run as their export, never on their own.
WITH_EXPORT_CONDITION = _AC.any_deps_match(_AC.will_be_requested()).with_label("with_its_export")


automation_sensor = dg.AutomationConditionSensorDefinition(
    AUTOMATION_SENSOR,
    target=dg.AssetSelection.all(),
    minimum_interval_seconds=AUTOMATION_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    # Plain runs, not backfills: in Dagster 1.13.27 an asset backfill that spans several
    # levels of assets and every partition of a dynamic partitions definition fails
    # ("Unable to determine root partitions for backfill").
    emit_backfills=False,
    description="Lands each campaign run the discovery sensor reported found (one run per "
    "partition), refreshes the snapshots after new runs were reported, and lands the "
    "customers of new groups and of groups that new runs address.",
)
