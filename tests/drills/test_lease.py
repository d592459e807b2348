"""Claims and leases across processes: a dead holder costs a wait, never a second publish.

A sync killed (SIGKILL) while it holds the claims of published runs leaves those claims in
the lake until their lease runs out. The next sync waits for that, takes each claim over,
and resumes the export job recorded in the run record: no run is published again, and every
row lands once. While a holder is alive, a second sync publishes none of its runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from nudge_pipeline import crashpoints
from nudge_pipeline.lake import Lake, claim_path
from nudge_pipeline.landing.claim import ClaimStore
from nudge_pipeline.landing.keys import campaign_run_key
from nudge_pipeline.landing.record import RunRecord, RunRecordStore
from tests.drills.overlap_drill import (
    assert_all_succeeded,
    assert_each_run_published_once,
    duplicate_keys,
    publish_report,
    publishes_by_run,
    slow_export_world,
    start_sync,
)
from tests.drills.sync_drill import (
    RunKey,
    assert_landed_exactly,
    drill_env,
    messages_by_run,
    messages_loads,
    observe_landing,
    published_messages,
)
from tests.fixtures.waiting import wait_until

# One Published campaign with four completed runs (the second of five fails) whose exports
# take long enough that the killed sync dies while they are still being generated.
WORLD = slow_export_world(completed_runs=4, export_seconds=6.0)
ELIGIBLE_RUNS = 4
# Long enough that the next sync, started at once, meets live claims of the dead holder;
# short enough for a drill. Both syncs use it: a claim's expiry is set by its holder.
LEASE_SECONDS = 10.0


def _records(lake: Lake, runs: set[RunKey]) -> dict[RunKey, RunRecord | None]:
    store = RunRecordStore(lake)
    return {run: store.get(*run) for run in runs}


@pytest.mark.slow
@pytest.mark.parametrize("holder", ["on another host", "on this host"])
def test_a_dead_holder_costs_its_lease_and_the_next_sync_resumes_without_republishing(
    holder: str, make_simulator: Any, duckdb_url: str, dagster_home: Path, tmp_path: Path
) -> None:
    sim = make_simulator(**WORLD)
    expected = published_messages(sim)
    eligible = set(messages_by_run(expected))
    assert len(eligible) == ELIGIBLE_RUNS
    lake_root = (tmp_path / "lake").resolve()
    lake = Lake(lake_root)
    env = drill_env(
        sim, tmp_path, duckdb_url, dagster_home, NUDGE_CLAIM_LEASE_SECONDS=str(LEASE_SECONDS)
    )
    logs = tmp_path / "logs"
    sim.reset_stats()

    killed = start_sync({**env, crashpoints.ENV_VAR: crashpoints.POLLING}, logs, "killed")
    assert killed.wait() == -9, killed.tail()
    killed_at = time.time()
    published_by_killed = publishes_by_run(sim.stats())
    assert published_by_killed, "the killed sync must have published before its first poll"
    claims = ClaimStore(lake, lease_seconds=LEASE_SECONDS)
    dead_claims = {run: claims.current(*run) for run in published_by_killed}
    assert all(claim is not None for claim in dead_claims.values()), dead_claims
    live_after_kill = [
        run for run, claim in dead_claims.items() if claim is not None and claim.is_live(killed_at)
    ]
    # The job ids are durable before the first poll: the next holder resumes these jobs.
    recorded_jobs = {
        run: record.job_id for run, record in _records(lake, set(dead_claims)).items() if record
    }
    assert set(recorded_jobs) == set(published_by_killed)
    assert all(recorded_jobs.values()), recorded_jobs
    if holder == "on another host":
        # Nothing here can tell whether a process elsewhere is alive: only the lease can.
        for run in dead_claims:
            _move_holder_elsewhere(lake, *run)

    resumed = start_sync(env, logs, "resumed")
    assert_all_succeeded(resumed)

    stats = sim.stats()
    assert_each_run_published_once(stats, eligible)
    assert_landed_exactly(expected, observe_landing(lake_root, duckdb_url))
    assert duplicate_keys(duckdb_url) == []
    after = _records(lake, eligible)
    for run, claim in dead_claims.items():
        record = after[run]
        assert record is not None and claim is not None
        assert record.job_id == recorded_jobs[run], "the export job is resumed, not replaced"
        fetched = min(f.fetched_at for f in record.files.values())
        if holder == "on another host":
            # No file of a run whose holder died was fetched before its lease ran out.
            assert fetched >= _iso(claim.expires_at), (run, fetched, claim)
        else:
            # A holder process of this host that is gone is known dead: no wait. The
            # export's completion, seen by the new holder, comes before the lease ends (its
            # files come later, by a time that varies with the load).
            assert record.exported_at is not None
            assert record.exported_at < _iso(claim.expires_at), (run, record, claim)
    # The kill came before the leases ran out, so the takeover really faced live leases.
    assert live_after_kill, dead_claims


def _move_holder_elsewhere(lake: Lake, campaign_id: str, run_id: str) -> None:
    path = Path(lake.fs_path(claim_path(campaign_id, run_id)))
    claim = json.loads(path.read_text())
    claim["holder"] = "another-host:" + claim["holder"].split(":", 1)[1]
    path.write_text(json.dumps(claim))


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat()


@pytest.mark.slow
def test_a_second_sync_publishes_nothing_while_the_holder_is_alive(
    make_simulator: Any, duckdb_url: str, dagster_home: Path, tmp_path: Path
) -> None:
    sim = make_simulator(**{**WORLD, "export_duration": 10.0})
    expected = published_messages(sim)
    eligible = set(messages_by_run(expected))
    env = drill_env(sim, tmp_path, duckdb_url, dagster_home)
    logs = tmp_path / "logs"
    sim.reset_stats()

    holder = start_sync(env, logs, "holder")
    wait_until(
        lambda: set(publishes_by_run(sim.stats())) == eligible or not holder.running,
        timeout=120,
        message="the first sync's publishes",
    )
    assert holder.running, holder.tail()
    second = start_sync(env, logs, "second")

    assert_all_succeeded(second, holder)
    stats = sim.stats()
    assert_each_run_published_once(stats, eligible)
    late = [p for p in stats["accepted_publishes"] if p["at"] >= second.started_at]
    assert late == [], publish_report(stats)
    assert_landed_exactly(expected, observe_landing((tmp_path / "lake").resolve(), duckdb_url))
    assert duplicate_keys(duckdb_url) == []
    # Loaded once: the sync that waited found the rows in the warehouse and did not reload.
    assert messages_loads(dagster_home) == dict.fromkeys(
        (campaign_run_key(*run) for run in eligible), 1
    )
