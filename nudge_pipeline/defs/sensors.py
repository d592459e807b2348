"""The discovery sensor: new completed runs and customer groups become partitions.

It requests no runs. It adds the partitions and reports `new_campaign_runs` for each customer
group that new runs address; Declarative Automation (defs/automation.py) lands them. It keeps
no cursor: the instance's partitions are the record of what was found, so a tick that finds
nothing new changes nothing, and a tick whose result was lost is simply repeated.
"""

from __future__ import annotations

from collections import defaultdict

import dagster as dg

from nudge_pipeline.defs.automation import NEW_CAMPAIGN_RUNS
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, CUSTOMER_GROUPS
from nudge_pipeline.defs.resources import NudgescribeResource
from nudge_pipeline.landing.discovery import Discovery, discover

SENSOR_INTERVAL_SECONDS = 300


@dg.sensor(
    name="nudgescribe_discovery_sensor",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Lists campaigns, run history and customer groups; adds a partition for each "
    "new completed campaign run and customer group and reports new_campaign_runs. "
    "The automation sensor lands them.",
)
def nudgescribe_discovery_sensor(
    context: dg.SensorEvaluationContext, nudgescribe: NudgescribeResource
) -> dg.SensorResult | dg.SkipReason:
    with nudgescribe.client() as client:
        found = discover(client, nudgescribe.allowed_stages())
    for run in found.rejected_runs:
        context.log.warning(f"campaign run skipped: {run.key_error}")
    for problem in found.rejected_groups:
        context.log.warning(f"customer group skipped: {problem}")

    instance = context.instance
    known_runs = set(instance.get_dynamic_partitions(CAMPAIGN_RUNS))
    known_groups = set(instance.get_dynamic_partitions(CUSTOMER_GROUPS))
    new_run_keys = [k for k in found.run_partition_keys if k not in known_runs]
    new_group_keys = [k for k in found.group_partition_keys if k not in known_groups]
    if not (new_run_keys or new_group_keys):
        return dg.SkipReason("nothing new")

    requests = []
    if new_run_keys:
        requests.append(_add(CAMPAIGN_RUNS, new_run_keys))
    if new_group_keys:
        requests.append(_add(CUSTOMER_GROUPS, new_group_keys))
    return dg.SensorResult(
        dynamic_partitions_requests=requests,
        asset_events=_reports(found, set(new_run_keys), set(found.group_partition_keys)),
    )


def _add(name: str, keys: list[str]) -> dg.AddDynamicPartitionsRequest:
    return dg.AddDynamicPartitionsRequest(partitions_def_name=name, partition_keys=keys)


def _reports(
    found: Discovery, new_run_keys: set[str], group_keys: set[str]
) -> list[dg.AssetMaterialization]:
    """One new_campaign_runs event per customer group that new eligible runs address."""
    by_group: dict[str, list[str]] = defaultdict(list)
    eligible = set(found.eligible_partition_keys)
    for run in found.completed_runs:
        key, group = run.partition_key, run.campaign.customer_group_id
        if key in new_run_keys and key in eligible and group in group_keys:
            by_group[group].append(key)
    return [
        dg.AssetMaterialization(
            asset_key=NEW_CAMPAIGN_RUNS,
            partition=group,
            metadata={"new_runs": len(keys), "campaign_run_keys": dg.MetadataValue.json(keys)},
        )
        for group, keys in sorted(by_group.items())
    ]
