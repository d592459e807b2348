"""Overlapping workers: each campaign run is published once and lands once, whoever races.

Two `nudge-pipeline sync` processes started a moment apart on one Dagster instance, lake and
warehouse; and the runs Declarative Automation asks for after the discovery sensor's finds,
executing while a backfill of the same partitions runs. The exports take seconds, so the
workers really meet on the same runs: one holds each run's claim and publishes, the other
watches that run's record until it lands.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from nudge_pipeline.defs import build_defs
from nudge_pipeline.defs.assets.messages import LOAD_STATUS
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS
from nudge_pipeline.defs.resources import NudgescribeResource, resources_from_env
from nudge_pipeline.defs.schedules import range_tags
from nudge_pipeline.defs.sensors import nudgescribe_discovery_sensor
from tests.drills.overlap_drill import (
    SYNC_TIMEOUT,
    assert_all_succeeded,
    assert_each_run_published_once,
    dagster_workers,
    duplicate_keys,
    execute_campaign_runs,
    slow_export_world,
    start_sync,
)
from tests.drills.sync_drill import (
    assert_landed_exactly,
    drill_env,
    messages_by_run,
    observe_landing,
    published_messages,
)

# One Published campaign with ten completed runs (the simulator makes the second of eleven a
# failed run); its exports take seconds, so a second worker arrives while they are in flight.
WORLD = slow_export_world(completed_runs=10, export_seconds=5.0)
ELIGIBLE_RUNS = 10
SECOND_SYNC_AFTER_SECONDS = 2.0
# The backfill and three of automation's runs start together; the others as workers free up.
BACKFILL_AND_AUTOMATION_WORKERS = 4
# What a backfill's runs carry (the instance limits runs by this tag).
BACKFILL_TAGS = {"dagster/backfill": "overlap-drill"}


@pytest.mark.slow
def test_two_syncs_started_seconds_apart_publish_each_run_once_and_land_it_once(
    make_simulator: Any, warehouse_url: str, dagster_home: Path, tmp_path: Path
) -> None:
    sim = make_simulator(**WORLD)
    expected = published_messages(sim)
    eligible = set(messages_by_run(expected))
    assert len(eligible) == ELIGIBLE_RUNS
    env = drill_env(sim, tmp_path, warehouse_url, dagster_home)
    sim.reset_stats()

    first = start_sync(env, tmp_path / "logs", "first")
    time.sleep(SECOND_SYNC_AFTER_SECONDS)
    assert first.running, first.tail()
    second = start_sync(env, tmp_path / "logs", "second")

    assert_all_succeeded(second, first)
    assert_each_run_published_once(sim.stats(), eligible)
    assert_landed_exactly(expected, observe_landing((tmp_path / "lake").resolve(), warehouse_url))
    assert duplicate_keys(warehouse_url) == []
    # Each summary says "landed" only of the runs its own process loaded.
    assert first.runs_landed() + second.runs_landed() == ELIGIBLE_RUNS, first.tail() + second.tail()


def landed_by_another_run(instance: dg.DagsterInstance) -> set[str]:
    """Partitions of `messages` that some run reported as landed by another claim holder."""
    observations = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("messages")), limit=1000
    ).records
    found = set()
    for record in observations:
        observation = record.asset_observation
        if observation is None or observation.partition is None:
            continue
        status = observation.metadata.get(LOAD_STATUS)
        reason = observation.metadata.get("reason")
        if status and status.value == "loaded" and reason and "another run" in str(reason.value):
            found.add(observation.partition)
    return found


@pytest.mark.slow
def test_automation_runs_overlapping_a_backfill_of_the_same_runs_publish_each_once(
    make_simulator: Any,
    duckdb_url: str,
    dagster_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_simulator(**WORLD)
    expected = published_messages(sim)
    eligible = set(messages_by_run(expected))
    assert len(eligible) == ELIGIBLE_RUNS
    account = sim.account
    lake_root = (tmp_path / "lake").resolve()
    settings = {
        "base_url": sim.base_url,
        "api_code": account.api_code,
        "api_key": account.api_key,
        "api_secret": account.api_secret,
        "profile_key": account.profile_key,
        "lake_root": str(lake_root),
        "warehouse_url": duckdb_url,
    }
    api = NudgescribeResource(
        base_url=sim.base_url,
        api_code=account.api_code,
        api_key=account.api_key,
        api_secret=account.api_secret,
    )
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))  # the project's dagster.yaml reads it
    sim.reset_stats()

    with dg.DagsterInstance.get() as instance:
        # The daemon's part: evaluate the discovery sensor, add the partitions and record the
        # events it reports; then evaluate the automation conditions, which ask for the runs.
        tick = nudgescribe_discovery_sensor(
            dg.build_sensor_context(instance=instance, resources={"nudgescribe": api})
        )
        assert isinstance(tick, dg.SensorResult)
        for request in tick.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        for event in tick.asset_events or []:
            instance.report_runless_asset_event(event)
        automation = dg.evaluate_automation_conditions(
            defs=build_defs(resources_from_env({})), instance=instance
        )
        keys = set(automation.get_requested_partitions(dg.AssetKey("message_export")))
        assert len(keys) == ELIGIBLE_RUNS
        order = [k for k in instance.get_dynamic_partitions(CAMPAIGN_RUNS) if k in keys]

        # A backfill of the same partitions, as one run over their range (the project's
        # backfill policy), and automation's runs, one per partition, each in a worker process.
        with dagster_workers(BACKFILL_AND_AUTOMATION_WORKERS) as workers:
            backfill = workers.submit(
                execute_campaign_runs,
                str(dagster_home),
                settings,
                None,
                {**range_tags(order[0], order[-1]), **BACKFILL_TAGS},
            )
            automated = [
                workers.submit(execute_campaign_runs, str(dagster_home), settings, key, {})
                for key in order
            ]
            failures = [f.result(timeout=SYNC_TIMEOUT) for f in [backfill, *automated]]
        assert failures == [[]] * (1 + len(automated))
        # Every partition shows as landed: materialized by whichever run landed it.
        assert keys <= instance.get_materialized_partitions(dg.AssetKey("messages"))
        # The workers really met: some runs found partitions another run held and landed.
        assert landed_by_another_run(instance) & keys

    assert_each_run_published_once(sim.stats(), eligible)
    assert_landed_exactly(expected, observe_landing(lake_root, duckdb_url))
    assert duplicate_keys(duckdb_url) == []
