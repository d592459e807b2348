"""The discovery sensor: partitions plus run requests for new work, nothing on a quiet tick."""

from typing import Any

import dagster as dg

from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, CUSTOMER_GROUPS, campaign_run_key
from nudge_pipeline.defs.sensors import nudgescribe_discovery_sensor


def _tick(instance: dg.DagsterInstance, resources: dict[str, Any], cursor: str | None) -> Any:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"nudgescribe": resources["nudgescribe"]}
    )
    return nudgescribe_discovery_sensor(context)


def _apply(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """What the daemon does with the sensor's partition requests."""
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)


def test_new_runs_become_partitions_and_runs_and_a_quiet_tick_requests_nothing(
    make_simulator: Any, resources_factory: Any
) -> None:
    sim = make_simulator()
    resources = resources_factory(sim)
    instance = dg.DagsterInstance.ephemeral()

    first = _tick(instance, resources, None)
    assert isinstance(first, dg.SensorResult)
    added = {
        r.partitions_def_name: set(r.partition_keys) for r in first.dynamic_partitions_requests
    }
    requested = {r.partition_key for r in first.run_requests if r.job_name == "campaign_run_job"}
    # Every completed run gets a partition; only eligible ones get a run.
    assert requested and requested < added[CAMPAIGN_RUNS]
    assert added[CUSTOMER_GROUPS]
    _apply(instance, first)

    quiet = _tick(instance, resources, first.cursor)
    assert isinstance(quiet, dg.SkipReason)

    published = _published_campaign(resources)
    new_run = sim.add_run(published)
    key = campaign_run_key(published, str(new_run["run_id"]))

    third = _tick(instance, resources, first.cursor)
    assert isinstance(third, dg.SensorResult)
    assert [
        (r.partitions_def_name, list(r.partition_keys)) for r in third.dynamic_partitions_requests
    ] == [(CAMPAIGN_RUNS, [key])]
    assert [(r.job_name, r.partition_key) for r in third.run_requests] == [
        ("campaign_run_job", key)
    ]
    _apply(instance, third)
    assert isinstance(_tick(instance, resources, third.cursor), dg.SkipReason)


def _published_campaign(resources: dict[str, Any]) -> str:
    with resources["nudgescribe"].client() as client:
        return next(c.campaign_id for c in client.list_campaigns() if c.stage == "Published")
