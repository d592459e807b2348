"""Crash and resume: `nudge-pipeline sync` SIGKILLed at each step, then run again.

The killed sync leaves only whole runs visible (warehouse) and only whole files under final
names (lake). The next sync ends with every eligible message exactly once in the warehouse
and in the lake, no temporary or unrecorded file, and no second publish: a job whose id was
stored is resumed, a job the server shows (running or complete) is adopted, and an export
recorded as complete is reused without asking the API again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

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
from nudge_pipeline.lake import ExportStateStore, Lake
from tests.drills.sync_drill import (
    FETCH,
    PAGES,
    PUBLISH,
    MessageKey,
    assert_landed_exactly,
    drill_env,
    lake_message_files,
    published_messages,
    run_sync,
    warehouse_messages,
)

# One workspace: one Published campaign with two completed runs of three files each.
WORLD = {"workspaces": 1, "customer_groups": 1, "messages_per_run": 60, "rows_per_file": 25}
# Polling is drilled while the export is still running on the server.
EXPORT_SECONDS = {POLLING: 2.5}
# Steps reached after the export completed: the next sync asks nothing about the export.
AFTER_EXPORT = {MID_DOWNLOAD, MID_PARQUET_WRITE, MID_WAREHOUSE_LOAD, BETWEEN_LAKE_AND_WAREHOUSE}
# Steps reached after every file landed: the next sync downloads nothing.
AFTER_FILES = {MID_WAREHOUSE_LOAD, BETWEEN_LAKE_AND_WAREHOUSE}

# The kill inside an open transaction is drilled on both databases; the other steps happen
# before any warehouse work, so one database shows them.
CASES = [pytest.param(step, "duckdb", id=f"{step}-duckdb") for step in crashpoints.STEPS] + [
    pytest.param(MID_WAREHOUSE_LOAD, "postgresql", id=f"{MID_WAREHOUSE_LOAD}-postgresql")
]


def _runs(messages: Counter[MessageKey]) -> dict[tuple[str, str], Counter[MessageKey]]:
    by_run: dict[tuple[str, str], Counter[MessageKey]] = {}
    for key, n in messages.items():
        by_run.setdefault((key[0], key[1]), Counter())[key] = n
    return by_run


def assert_only_whole_runs(expected: Counter[MessageKey], warehouse_url: str) -> None:
    """A run is in the warehouse with all its rows or not at all."""
    wanted = _runs(expected)
    for run, rows in _runs(warehouse_messages(warehouse_url)).items():
        assert rows == wanted.get(run), f"run {run} is partly loaded"


def assert_only_whole_files(lake_root: Path) -> None:
    """Every file under a final name is a complete Parquet file with our footer."""
    for path in lake_message_files(lake_root):
        footer = pq.read_metadata(path)
        declared = (footer.metadata or {}).get(b"nudge_pipeline.row_count")
        assert declared is not None and int(declared) == footer.num_rows, path


@pytest.mark.slow
@pytest.mark.parametrize(("step", "database"), CASES)
def test_sync_killed_at_step_resumes_exactly_once_without_republishing(
    step: str,
    database: str,
    make_simulator: Any,
    dagster_home: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    warehouse_url = str(
        request.getfixturevalue(f"{'duckdb' if database == 'duckdb' else 'postgres'}_url")
    )
    sim = make_simulator(**WORLD, export_duration=EXPORT_SECONDS.get(step, 0.3))
    expected = published_messages(sim)
    eligible_runs = len(_runs(expected))
    lake_root = (tmp_path / "lake").resolve()
    env = drill_env(sim, tmp_path, warehouse_url, dagster_home)
    sim.reset_stats()

    crashed = run_sync({**env, crashpoints.ENV_VAR: step})
    assert crashed.killed, crashed.tail()
    assert_only_whole_runs(expected, warehouse_url)
    assert_only_whole_files(lake_root)
    if step == POLLING:
        # The job id was stored before the first poll, while the export still runs.
        store = ExportStateStore(Lake(lake_root))
        states = [store.get(campaign_id, run_id) for campaign_id, run_id in _runs(expected)]
        assert any(s and s.get("job_id") and s.get("status") == "processing" for s in states)
    before = sim.stats()
    sim.reset_stats()

    resumed = run_sync(env)
    assert resumed.returncode == 0, resumed.tail()
    after = sim.stats()
    assert_landed_exactly(expected, lake_root, warehouse_url)

    # One export per eligible run, over both syncs: nothing published twice.
    assert before["calls"].get(PUBLISH, 0) + after["calls"].get(PUBLISH, 0) == eligible_runs
    assert after["quota_used"] == eligible_runs  # the quota is account state: not reset
    if step == POLLING:
        assert after["calls"].get(PUBLISH, 0) == 0, "the stored job must be resumed"
    if step in AFTER_EXPORT:
        assert after["calls"].get(PUBLISH, 0) == 0
        assert after["calls"].get(PAGES, 0) == 0, "a completed export is reused as recorded"
    if step in AFTER_FILES:
        assert after["calls"].get(FETCH, 0) == 0, "landed files are not downloaded again"
