"""How `sync` keeps the API pool on a PostgreSQL instance: limits, the pool row, dead workers."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from nudge_pipeline.defs.assets.common import API_POOL
from nudge_pipeline.defs.run_workers import (
    STARTED_BY,
    STARTED_BY_TAG,
    WORKER_TAG,
    api_pool_limit,
    close_runs_of_dead_workers,
    initialize_api_pool,
    parallel_runs_within_api_pool,
)
from tests.production.conftest import opened_production_instance

POOL_LIMIT = 3


@pytest.fixture
def instance(
    instance_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    with opened_production_instance(home, instance_database, POOL_LIMIT, monkeypatch) as opened:
        yield opened


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _started_run(instance: dg.DagsterInstance, worker: str) -> dg.DagsterRun:
    run = dg.DagsterRun(
        job_name="campaign_run_job",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
        tags={STARTED_BY_TAG: STARTED_BY, WORKER_TAG: worker},
    )
    return instance.add_run(run)


def test_pool_row_is_created_once_and_an_explicit_limit_is_kept(
    instance: dg.DagsterInstance,
) -> None:
    storage = instance.event_log_storage
    assert API_POOL not in {pool.name for pool in storage.get_pool_limits()}
    initialize_api_pool(instance)
    assert storage.get_concurrency_info(API_POOL).slot_count == POOL_LIMIT

    storage.set_concurrency_slots(API_POOL, 7)
    initialize_api_pool(instance)
    assert api_pool_limit(instance) == 7
    assert storage.get_concurrency_info(API_POOL).slot_count == 7


def test_runs_are_capped_only_where_dagster_would_not_claim_per_step(
    instance: dg.DagsterInstance,
) -> None:
    # deploy/dagster.yaml: op granularity on PostgreSQL, so every step claims its slot.
    assert parallel_runs_within_api_pool(instance, 8) == 8
    with dg.instance_for_test(
        overrides={"concurrency": {"pools": {"granularity": "run", "default_limit": 2}}},
    ) as run_granular:
        assert parallel_runs_within_api_pool(run_granular, 8) == 2
        assert parallel_runs_within_api_pool(run_granular, 1) == 1
    with dg.instance_for_test() as unlimited:
        assert api_pool_limit(unlimited) is None
        assert parallel_runs_within_api_pool(unlimited, 8) == 8


def test_a_dead_sync_workers_runs_are_failed_and_their_slots_freed(
    instance: dg.DagsterInstance,
) -> None:
    storage = instance.event_log_storage
    initialize_api_pool(instance)
    host = socket.gethostname()
    dead = _started_run(instance, f"{host}:{_dead_pid()}")
    alive = _started_run(instance, f"{host}:{os.getpid()}")
    elsewhere = _started_run(instance, f"another-host:{_dead_pid()}")
    for run in (dead, alive, elsewhere):
        assert storage.claim_concurrency_slot(API_POOL, run.run_id, "message_export").is_claimed
    assert storage.get_concurrency_info(API_POOL).active_slot_count == 3

    assert close_runs_of_dead_workers(instance) == [dead.run_id]

    statuses = {
        run.run_id: instance.get_run_by_id(run.run_id).status  # type: ignore[union-attr]
        for run in (dead, alive, elsewhere)
    }
    assert statuses == {
        dead.run_id: dg.DagsterRunStatus.FAILURE,
        alive.run_id: dg.DagsterRunStatus.STARTED,
        elsewhere.run_id: dg.DagsterRunStatus.STARTED,
    }
    assert storage.get_concurrency_info(API_POOL).active_slot_count == 2
    # A run no longer claims a slot it gave back.
    assert close_runs_of_dead_workers(instance) == []
