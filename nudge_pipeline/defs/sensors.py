"""The discovery sensor: new completed runs and customer groups become partitions.

It only discovers. A tick adds the partitions, reports `found_campaign_runs` for each new
eligible run and `new_campaign_runs` for each customer group those runs address, and
observes on `messages` why each new ineligible run will not be exported. Declarative
Automation (defs/automation.py) then lands the found runs, refreshes the snapshots and
those groups' customers, and lands new groups.

It keeps no cursor: the instance's partitions record what was found, so a tick that finds
nothing new changes nothing, and a tick whose result was lost is simply repeated.
"""

from __future__ import annotations

from collections import defaultdict

import dagster as dg

from nudge_pipeline.defs.assets.messages import not_exported_observations
from nudge_pipeline.defs.automation import FOUND_CAMPAIGN_RUNS, NEW_CAMPAIGN_RUNS
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, CUSTOMER_GROUPS
from nudge_pipeline.defs.resources import NudgescribeResource
from nudge_pipeline.landing.discovery import Discovery, discover
from nudge_pipeline.settings import read_settings

SENSOR_INTERVAL_SECONDS = read_settings("discovery_interval_seconds").discovery_interval_seconds


@dg.sensor(
    name="nudgescribe_discovery_sensor",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Lists campaigns, run history and customer groups; adds a partition for each "
    "new completed campaign run and customer group, and reports found_campaign_runs (the new "
    "eligible runs) and new_campaign_runs (the groups they address). The automation sensor "
    "lands the found runs and refreshes snapshots and customers after it.",
)
def nudgescribe_discovery_sensor(
    context: dg.SensorEvaluationContext, nudgescribe: NudgescribeResource
) -> dg.SensorResult | dg.SkipReason:
    with nudgescribe.client() as client:
        found = discover(
            client, nudgescribe.allowed_stages(), readers=nudgescribe.parallel_downloads
        )
    for run in found.rejected_runs:
        context.log.warning(f"campaign run skipped: {run.key_error}")
    for problem in found.rejected_groups:
        context.log.warning(f"customer group skipped: {problem}")

    instance = context.instance
    known_runs = set(instance.get_dynamic_partitions(CAMPAIGN_RUNS))
    known_groups = set(instance.get_dynamic_partitions(CUSTOMER_GROUPS))
    eligible = set(found.eligible_partition_keys)
    new_run_keys = [k for k in found.run_partition_keys if k not in known_runs]
    new_group_keys = [k for k in found.group_partition_keys if k not in known_groups]
    for run in found.completed_runs:
        if run.partition_key in new_run_keys and run.partition_key not in eligible:
            context.log.info(f"{run.partition_key}: not exported: {run.eligibility.reason}")
    if not (new_run_keys or new_group_keys):
        return dg.SkipReason("nothing new")

    # Eligible keys first and side by side, so that a range of them (a backfill's, a sync's)
    # holds no ineligible run.
    to_land = [k for k in new_run_keys if k in eligible]
    skipped = rest_of(new_run_keys, eligible)
    landing, not_landing = set(to_land), set(skipped)
    requests = []
    if new_run_keys:
        requests.append(_add(CAMPAIGN_RUNS, to_land + skipped))
    if new_group_keys:
        requests.append(_add(CUSTOMER_GROUPS, new_group_keys))
    return dg.SensorResult(
        # Dagster shows a tick without run requests as skipped; its message says what it found.
        skip_reason=dg.SkipReason(
            f"found {len(to_land)} new eligible run(s) (reported in found_campaign_runs; "
            f"automation lands them), {len(skipped)} new run(s) not eligible, "
            f"{len(new_group_keys)} new customer group(s)"
        ),
        dynamic_partitions_requests=requests,
        asset_events=[
            *_found(found, landing),
            *_reports(found, landing, set(found.group_partition_keys)),
            *not_exported_observations(
                r for r in found.completed_runs if r.partition_key in not_landing
            ),
        ],
    )


def _found(found: Discovery, keys: set[str]) -> list[dg.AssetMaterialization]:
    """One found_campaign_runs event per new eligible run, saying which run it is."""
    return [
        dg.AssetMaterialization(
            asset_key=FOUND_CAMPAIGN_RUNS,
            partition=run.partition_key,
            metadata={
                "campaign_name": run.campaign.campaign_name or "",
                "stage": run.campaign.stage or "",
                **({"run_number": run.run.run_number} if run.run.run_number is not None else {}),
            },
        )
        for run in found.completed_runs
        if run.partition_key in keys
    ]


def rest_of(keys: list[str], eligible: set[str]) -> list[str]:
    return [k for k in keys if k not in eligible]


def _add(name: str, keys: list[str]) -> dg.AddDynamicPartitionsRequest:
    return dg.AddDynamicPartitionsRequest(partitions_def_name=name, partition_keys=keys)


def _reports(
    found: Discovery, new_run_keys: set[str], group_keys: set[str]
) -> list[dg.AssetMaterialization]:
    """One new_campaign_runs event per customer group that new runs address."""
    by_group: dict[str, list[str]] = defaultdict(list)
    for run in found.completed_runs:
        key, group = run.partition_key, run.campaign.customer_group_id
        if key in new_run_keys and group in group_keys:
            by_group[group].append(key)
    return [
        dg.AssetMaterialization(
            asset_key=NEW_CAMPAIGN_RUNS,
            partition=group,
            metadata={"new_runs": len(keys), "campaign_run_keys": dg.MetadataValue.json(keys)},
        )
        for group, keys in sorted(by_group.items())
    ]
