"""The discovery sensor: new completed runs and customer groups become partitions and runs.

Its cursor holds the partition keys it has already requested, so a tick that finds nothing
new requests nothing. Runs that are not eligible for publishing get a partition (for the UI
and manual backfills) but no run.
"""

import json

import dagster as dg

from nudge_pipeline.defs.jobs import campaign_run_job, customers_job
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, CUSTOMER_GROUPS
from nudge_pipeline.defs.resources import NudgescribeResource
from nudge_pipeline.landing.discovery import discover

SENSOR_INTERVAL_SECONDS = 300


def _load_cursor(text: str | None) -> dict[str, list[str]]:
    if not text:
        return {"runs": [], "groups": []}
    data = json.loads(text)
    return {"runs": list(data.get("runs", [])), "groups": list(data.get("groups", []))}


@dg.sensor(
    name="nudgescribe_discovery_sensor",
    jobs=[campaign_run_job, customers_job],
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Lists campaigns, run history and customer groups; adds partitions and "
    "requests runs for newly completed, eligible campaign runs and new customer groups.",
)
def nudgescribe_discovery_sensor(
    context: dg.SensorEvaluationContext, nudgescribe: NudgescribeResource
) -> dg.SensorResult | dg.SkipReason:
    cursor = _load_cursor(context.cursor)
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

    requested_runs = set(cursor["runs"])
    requested_groups = set(cursor["groups"])
    run_keys = [k for k in found.eligible_partition_keys if k not in requested_runs]
    group_keys = [k for k in found.group_partition_keys if k not in requested_groups]
    for run in found.completed_runs:
        if run.partition_key and not run.eligibility.eligible and run.partition_key in new_run_keys:
            context.log.info(f"{run.partition_key}: not requested: {run.eligibility.reason}")

    if not (new_run_keys or new_group_keys or run_keys or group_keys):
        return dg.SkipReason("nothing new")

    partition_requests = []
    if new_run_keys:
        partition_requests.append(instance_request(CAMPAIGN_RUNS, new_run_keys))
    if new_group_keys:
        partition_requests.append(instance_request(CUSTOMER_GROUPS, new_group_keys))
    run_requests = [
        dg.RunRequest(run_key=f"customers:{k}", job_name=customers_job.name, partition_key=k)
        for k in group_keys
    ] + [
        dg.RunRequest(run_key=f"run:{k}", job_name=campaign_run_job.name, partition_key=k)
        for k in run_keys
    ]
    new_cursor = {
        "runs": sorted(requested_runs | set(run_keys)),
        "groups": sorted(requested_groups | set(group_keys)),
    }
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=partition_requests,
        cursor=json.dumps(new_cursor, separators=(",", ":")),
    )


def instance_request(name: str, keys: list[str]) -> dg.AddDynamicPartitionsRequest:
    return dg.AddDynamicPartitionsRequest(partitions_def_name=name, partition_keys=keys)
