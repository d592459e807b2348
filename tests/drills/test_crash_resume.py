"""Crash and resume: `nudge-pipeline sync` SIGKILLed at each step, then run again.

The killed sync leaves only whole runs visible (warehouse) and only whole files under final
names (lake). The next sync ends with every eligible message exactly once in the warehouse
and in the lake, no temporary or unrecorded file, and no second publish: a job whose id was
stored is resumed, a job the server shows (running or complete) is adopted, and an export
recorded as complete is reused without asking the API again.

Each drill has its own simulator, lake, warehouse and Dagster instance. They run two at a
time in a module fixture (each sync is a mostly single-threaded process), and each test
then checks what its drill observed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nudge_pipeline import crashpoints
from nudge_pipeline.crashpoints import (
    BETWEEN_LAKE_AND_WAREHOUSE,
    MID_DOWNLOAD,
    MID_PARQUET_WRITE,
    MID_WAREHOUSE_LOAD,
    POLLING,
)
from nudge_pipeline.lake import Lake
from nudge_pipeline.landing.record import RunRecord, RunRecordStore, RunState
from nudge_pipeline.simulator import SimConfig, run_simulator
from tests.drills.sync_drill import (
    FETCH,
    PAGES,
    PUBLISH,
    Landing,
    MessageKey,
    SyncOutcome,
    assert_landed_exactly,
    claimed_pool_slots,
    drill_env,
    lake_message_files,
    make_dagster_home,
    messages_by_run,
    observe_landing,
    published_messages,
    run_sync,
    unfinished_runs,
    warehouse_messages,
)
from tests.fixtures.databases import scratch_postgres_database

PARALLEL_DRILLS = 2
# One workspace: one Published campaign with two completed runs of three files each.
WORLD: dict[str, Any] = {
    "workspaces": 1,
    "customer_groups": 1,
    "messages_per_run": 60,
    "rows_per_file": 25,
}
FILES_PER_RUN = -(-WORLD["messages_per_run"] // WORLD["rows_per_file"])
# Polling is drilled while the export is still running on the server.
EXPORT_SECONDS = {POLLING: 2.5}
# Steps reached after the export completed: the next sync asks nothing about the export.
AFTER_EXPORT = {MID_DOWNLOAD, MID_PARQUET_WRITE, MID_WAREHOUSE_LOAD, BETWEEN_LAKE_AND_WAREHOUSE}
# Steps reached after every file landed: the next sync downloads nothing.
AFTER_FILES = {MID_WAREHOUSE_LOAD, BETWEEN_LAKE_AND_WAREHOUSE}

# The kill inside an open transaction is drilled on both databases; the other steps happen
# before any warehouse work, so one database shows them.
DrillKey = tuple[str, str]  # step, database
DRILLS: list[DrillKey] = [(step, "duckdb") for step in crashpoints.STEPS]
DRILLS.append((MID_WAREHOUSE_LOAD, "postgresql"))
CASES = [pytest.param(step, database, id=f"{step}-{database}") for step, database in DRILLS]
TEST_NAME = "test_sync_killed_at_step_resumes_exactly_once_without_republishing"


def _partial_files(lake_root: Path) -> list[str]:
    """Files under a final name that are not a complete Parquet file with our footer."""
    partial = []
    for path in lake_message_files(lake_root):
        try:
            footer = pq.read_metadata(path)
        except (OSError, pa.ArrowInvalid):
            partial.append(str(path))
            continue
        declared = (footer.metadata or {}).get(b"nudge_pipeline.row_count")
        if declared is None or int(declared) != footer.num_rows:
            partial.append(str(path))
    return partial


@dataclass
class Drill:
    """What one crash-and-resume drill saw."""

    expected: Counter[MessageKey]
    crashed: SyncOutcome
    # Right after the kill:
    warehouse_after_crash: Counter[MessageKey]
    partial_files_after_crash: list[str]
    records_after_crash: list[RunRecord | None]
    stats_of_crashed: dict[str, Any]
    pool_slots_held_after_crash: int
    # After the second sync:
    resumed: SyncOutcome
    stats_of_resumed: dict[str, Any]
    landing: Landing
    pool_slots_held_after_resume: int
    unfinished_runs_after_resume: int


def run_drill(key: DrillKey, template: Path, root: Path) -> Drill:
    step, database = key
    with ExitStack() as stack:
        if database == "postgresql":
            warehouse_url = stack.enter_context(scratch_postgres_database())
        else:
            warehouse_url = f"duckdb:///{root / 'warehouse.duckdb'}"
        config = SimConfig(**WORLD, export_duration=EXPORT_SECONDS.get(step, 0.3))
        sim = stack.enter_context(run_simulator(config))
        expected = published_messages(sim)
        lake_root = (root / "lake").resolve()
        home = make_dagster_home(template, root / "dagster_home")
        env = drill_env(sim, root, warehouse_url, home)
        sim.reset_stats()

        crashed = run_sync({**env, crashpoints.ENV_VAR: step})
        store = RunRecordStore(Lake(lake_root))
        warehouse_after_crash = warehouse_messages(warehouse_url)
        partial_files_after_crash = _partial_files(lake_root)
        records_after_crash = [store.get(c, r) for c, r in messages_by_run(expected)]
        stats_of_crashed = sim.stats()
        pool_slots_held_after_crash = claimed_pool_slots(home)
        sim.reset_stats()

        resumed = run_sync(env)
        return Drill(
            expected=expected,
            crashed=crashed,
            warehouse_after_crash=warehouse_after_crash,
            partial_files_after_crash=partial_files_after_crash,
            records_after_crash=records_after_crash,
            stats_of_crashed=stats_of_crashed,
            pool_slots_held_after_crash=pool_slots_held_after_crash,
            resumed=resumed,
            stats_of_resumed=sim.stats(),
            landing=observe_landing(lake_root, warehouse_url),
            pool_slots_held_after_resume=claimed_pool_slots(home),
            unfinished_runs_after_resume=unfinished_runs(home),
        )


def _selected(session: pytest.Session) -> list[DrillKey]:
    """The drills whose tests this session runs (all, unless narrowed with -k or ids)."""
    chosen = set()
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and item.name.startswith(TEST_NAME):
            chosen.add((callspec.params["step"], callspec.params["database"]))
    return [drill for drill in DRILLS if drill in chosen]


@pytest.fixture(scope="module")
def drills(
    dagster_home_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[dict[DrillKey, Future[Drill]]]:
    """The selected drills, started two at a time; a test waits for its own."""
    with ThreadPoolExecutor(max_workers=PARALLEL_DRILLS, thread_name_prefix="drill") as pool:
        futures = {
            key: pool.submit(
                run_drill,
                key,
                dagster_home_template,
                tmp_path_factory.mktemp("crash-{}-{}".format(*key)),
            )
            for key in _selected(request.session)
        }
        yield futures


@pytest.mark.slow
@pytest.mark.parametrize(("step", "database"), CASES)
def test_sync_killed_at_step_resumes_exactly_once_without_republishing(
    step: str, database: str, drills: dict[DrillKey, Future[Drill]]
) -> None:
    drill = drills[(step, database)].result()
    assert drill.crashed.killed, drill.crashed.tail()
    # The pool is held per run (granularity `run`): a killed run holds no slot.
    assert drill.pool_slots_held_after_crash == 0
    expected = drill.expected
    eligible_runs = len(messages_by_run(expected))
    # A run is in the warehouse with all its rows or not at all; no file is half written.
    wanted = messages_by_run(expected)
    for run, rows in messages_by_run(drill.warehouse_after_crash).items():
        assert rows == wanted.get(run), f"run {run} is partly loaded"
    assert drill.partial_files_after_crash == []
    if step == POLLING:
        # The job id was stored before the first poll, while the export still runs.
        assert any(
            r and r.job_id and r.state is RunState.PUBLISHED for r in drill.records_after_crash
        ), drill.records_after_crash

    assert drill.resumed.returncode == 0, drill.resumed.tail()
    assert_landed_exactly(expected, drill.landing)
    # The killed run is closed as failed, and no pool slot stays claimed.
    assert drill.unfinished_runs_after_resume == 0
    assert drill.pool_slots_held_after_resume == 0

    # One export per eligible run over both syncs: nothing published twice.
    before, after = drill.stats_of_crashed["calls"], drill.stats_of_resumed["calls"]
    publishes = {
        "crashed": drill.stats_of_crashed["responses"].get(PUBLISH),
        "resumed": drill.stats_of_resumed["responses"].get(PUBLISH),
        "accepted in all": drill.stats_of_resumed["quota_used"],
    }
    assert before.get(PUBLISH, 0) + after.get(PUBLISH, 0) == eligible_runs, (
        publishes,
        drill.resumed.tail(),
    )
    assert drill.stats_of_resumed["quota_used"] == eligible_runs  # account state: never reset
    if step == POLLING:
        assert after.get(PUBLISH, 0) == 0, "the stored job must be resumed"
    # Runs move on their own clocks: at the kill, another run may still be a step behind.
    records = drill.records_after_crash
    if step in AFTER_EXPORT:
        assert after.get(PUBLISH, 0) == 0
        if all(r is not None and r.export_complete for r in records):
            assert after.get(PAGES, 0) == 0, "a completed export is reused as recorded"
    if step in AFTER_FILES:
        landed = (RunState.FILES_LANDED, RunState.LOADED)
        unlanded = [r for r in records if r is None or r.state not in landed]
        assert len(unlanded) < len(records), "the kill came after a run's files landed"
        assert after.get(FETCH, 0) == FILES_PER_RUN * len(unlanded), (
            "files recorded as landed are not downloaded again"
        )
