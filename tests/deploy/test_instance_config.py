"""deploy/dagster.yaml loads into a real Dagster instance backed by PostgreSQL.

The instance is opened exactly as production opens it: DAGSTER_HOME holds the file and the
DAGSTER_PG_* variables point at a database, here a fresh one on the local PostgreSQL server.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._core.instance.config import PoolGranularity
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator
from dagster._utils.concurrency import ConcurrencySlotStatus
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from tests.fixtures.databases import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    dagster_pg_env,
    scratch_instance_database,
)

INSTANCE_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"

API_POOL = "nudgescribe_api"
# The figures deploy/README.md sizes the deployment with.
MAX_CONCURRENT_RUNS = 16
BACKFILL_RUN_LIMIT = 8
API_POOL_LIMIT = 4


@pytest.fixture(scope="module")
def instance_database() -> Iterator[str]:
    """One database for the module's instance (the shared fixture is per test)."""
    with scratch_instance_database("nudge_deploy") as name:
        yield name


@pytest.fixture(scope="module")
def instance(
    instance_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dg.DagsterInstance]:
    dagster_home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(INSTANCE_YAML, dagster_home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(dagster_home))
        for name, value in dagster_pg_env(instance_database).items():
            env.setenv(name, value)
        loaded = dg.DagsterInstance.get()
        try:
            yield loaded
        finally:
            loaded.dispose()


def test_all_storage_lives_in_the_configured_postgres_database(
    instance: dg.DagsterInstance, instance_database: str
) -> None:
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=instance_database
    ) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    assert {"runs", "event_logs", "dynamic_partitions", "concurrency_limits"} <= tables


def test_runs_are_queued_with_a_backfill_share(instance: dg.DagsterInstance) -> None:
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)

    # The daemon dequeues with the merged view of run_coordinator and `concurrency.runs`.
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == MAX_CONCURRENT_RUNS
    assert list(queue.tag_concurrency_limits) == [
        {"key": "dagster/backfill", "limit": BACKFILL_RUN_LIMIT}
    ]
    # Backfills must leave run slots for the sensor and the schedule.
    assert 0 < BACKFILL_RUN_LIMIT < MAX_CONCURRENT_RUNS


def test_api_pool_limits_steps_across_runs(instance: dg.DagsterInstance) -> None:
    pools = instance.get_concurrency_config().pool_config
    assert pools.pool_granularity == PoolGranularity.OP
    assert pools.default_pool_limit == API_POOL_LIMIT
    assert pools.op_granularity_run_buffer == 1

    storage = instance.event_log_storage
    assert storage.initialize_concurrency_limit_to_default(API_POOL)
    info = storage.get_concurrency_info(API_POOL)
    assert (info.limit, info.slot_count) == (API_POOL_LIMIT, API_POOL_LIMIT)

    run_a, run_b = "a" * 32, "b" * 32
    try:
        for step in range(API_POOL_LIMIT):
            claim = storage.claim_concurrency_slot(API_POOL, run_a, f"fetch_{step}")
            assert claim.slot_status == ConcurrencySlotStatus.CLAIMED
        # One step over the limit, from another run, has to wait.
        waiting = storage.claim_concurrency_slot(API_POOL, run_b, "fetch_0")
        assert waiting.slot_status == ConcurrencySlotStatus.BLOCKED

        storage.free_concurrency_slots_for_run(run_a)
        granted = storage.claim_concurrency_slot(API_POOL, run_b, "fetch_0")
        assert granted.slot_status == ConcurrencySlotStatus.CLAIMED
    finally:
        storage.free_concurrency_slots_for_run(run_a)
        storage.free_concurrency_slots_for_run(run_b)
    assert storage.get_concurrency_info(API_POOL).active_slot_count == 0


def test_run_monitoring_frees_slots_of_ended_runs(instance: dg.DagsterInstance) -> None:
    assert instance.run_monitoring_enabled
    settings = instance.run_monitoring_settings
    assert settings["free_slots_after_run_end_seconds"] > 0
    # Crashed workers are retried as new runs, not resumed in place.
    assert instance.run_monitoring_max_resume_run_attempts == 0
    assert instance.run_monitoring_start_timeout_seconds >= 180


def test_run_retries_cover_crashes_only(instance: dg.DagsterInstance) -> None:
    assert instance.run_retries_enabled
    assert instance.run_retries_max_retries >= 1
    assert instance.run_retries_retry_on_asset_or_op_failure is False


def test_telemetry_is_off(instance: dg.DagsterInstance) -> None:
    assert instance.get_settings("telemetry") == {"enabled": False}


def test_a_partitioned_run_round_trips_through_the_instance(
    instance: dg.DagsterInstance,
) -> None:
    campaign_runs = dg.DynamicPartitionsDefinition(name="campaign_runs")
    partition_key = "0042~run-7"
    instance.add_dynamic_partitions("campaign_runs", [partition_key])
    instance.add_dynamic_partitions("customer_groups", ["007"])
    assert instance.get_dynamic_partitions("campaign_runs") == [partition_key]
    assert instance.has_dynamic_partition("customer_groups", "007")

    @dg.asset(partitions_def=campaign_runs, pool=API_POOL)
    def probe(context: dg.AssetExecutionContext) -> str:
        return context.partition_key

    result = dg.materialize([probe], instance=instance, partition_key=partition_key)
    assert result.success

    runs = instance.get_runs(filters=dg.RunsFilter(run_ids=[result.run_id]))
    assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS]
    assert runs[0].tags["dagster/partition"] == partition_key

    materialized = instance.get_materialized_partitions(dg.AssetKey("probe"))
    assert materialized == {partition_key}
    assert instance.event_log_storage.get_concurrency_info(API_POOL).active_slot_count == 0
