"""The discovery sensor: partitions and reports for new work, no runs, nothing on a quiet tick."""

from typing import Any

import dagster as dg

from nudge_pipeline.defs.automation import FOUND_CAMPAIGN_RUNS, NEW_CAMPAIGN_RUNS
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


def test_new_runs_become_partitions_and_reports_and_a_quiet_tick_changes_nothing(
    make_simulator: Any, resources_factory: Any
) -> None:
    sim = make_simulator()
    resources = resources_factory(sim)
    instance = dg.DagsterInstance.ephemeral()

    first = _tick(instance, resources, None)
    assert isinstance(first, dg.SensorResult)
    assert first.cursor is None
    added = {
        r.partitions_def_name: set(r.partition_keys) for r in first.dynamic_partitions_requests
    }
    assert added[CAMPAIGN_RUNS] and added[CUSTOMER_GROUPS]
    assert not first.run_requests  # automation lands what it reports
    reports = [e for e in first.asset_events if e.asset_key == NEW_CAMPAIGN_RUNS]
    reported = {e.partition: e.metadata["campaign_run_keys"].value for e in reports}
    found_events = [e for e in first.asset_events if e.asset_key == FOUND_CAMPAIGN_RUNS]
    found = {e.partition for e in found_events}
    # Each found run says which campaign and run it is, for the partition's page.
    assert all(e.metadata["campaign_name"].value for e in found_events)
    # The runs that will not be exported say why on `messages`, from the start.
    skips = [e for e in first.asset_events if isinstance(e, dg.AssetObservation)]
    assert {e.metadata["load_status"].value for e in skips} == {"skipped"}
    # Only eligible runs are reported found, and under the group each addresses.
    reported_runs = {k for keys in reported.values() for k in keys}
    assert reported_runs and reported_runs < added[CAMPAIGN_RUNS]
    assert found == reported_runs
    assert len(first.asset_events) == len(reports) + len(found) + len(skips)
    # The tick, shown as skipped for want of run requests, says what it found.
    assert first.skip_reason is not None
    assert first.skip_reason.skip_message.startswith(
        f"found {len(found)} new eligible run(s) (reported in found_campaign_runs; "
        f"automation lands them), {len(skips)} new run(s) not eligible"
    )
    assert set(reported) <= added[CUSTOMER_GROUPS]
    assert {e.partition for e in skips} == added[CAMPAIGN_RUNS] - reported_runs
    assert len(skips) == len(added[CAMPAIGN_RUNS] - reported_runs)
    assert {e.asset_key.to_user_string() for e in skips} == {"messages"}
    _apply(instance, first)

    assert isinstance(_tick(instance, resources, None), dg.SkipReason)

    published, group = _published_campaign(resources)
    new_run = sim.add_run(published)
    key = campaign_run_key(published, str(new_run["run_id"]))

    third = _tick(instance, resources, None)
    assert isinstance(third, dg.SensorResult)
    assert [
        (r.partitions_def_name, list(r.partition_keys)) for r in third.dynamic_partitions_requests
    ] == [(CAMPAIGN_RUNS, [key])]
    events = [(e.asset_key, e.partition) for e in third.asset_events]
    assert events == [(FOUND_CAMPAIGN_RUNS, key), (NEW_CAMPAIGN_RUNS, group)]
    assert third.asset_events[1].metadata["campaign_run_keys"].value == [key]
    assert not third.run_requests
    _apply(instance, third)
    assert isinstance(_tick(instance, resources, None), dg.SkipReason)


def _published_campaign(resources: dict[str, Any]) -> tuple[str, str | None]:
    with resources["nudgescribe"].client() as client:
        return next(
            (c.campaign_id, c.customer_group_id)
            for c in client.list_campaigns()
            if c.stage == "Published"
        )
