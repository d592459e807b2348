"""Fault storm: a full `nudge-pipeline sync` while about 30% of requests fail.

429 with Retry-After, 500/502/503/504 (the gateway ones in HTML), connections dropped before
the headers, CSV bodies cut off mid-file, latency on every call, and tokens that live 5 s.
The sync must still land every eligible message exactly once and publish each run once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.drills.sync_drill import (
    PUBLISH,
    assert_landed_exactly,
    drill_env,
    observe_landing,
    published_messages,
    run_sync,
)

# Seed 22 spreads its faults without long streaks at the calls a sync this size makes.
WORLD = {
    "seed": 22,
    "workspaces": 1,
    "customer_groups": 1,
    "messages_per_run": 100,
    "rows_per_file": 20,
}
STORM = {
    "fault_drop_rate": 0.1,
    "fault_429_rate": 0.1,
    "fault_5xx_rate": 0.1,
    "fault_cut_body_rate": 0.1,
    "retry_after_seconds": 1,
    "latency_ms": 15,
    "token_ttl": 5.0,
}


@pytest.mark.slow
def test_sync_through_a_fault_storm_lands_exact_data_and_publishes_each_run_once(
    make_simulator: Any, duckdb_url: str, dagster_home: Path, tmp_path: Path
) -> None:
    sim = make_simulator(**WORLD)
    expected = published_messages(sim)
    eligible_runs = len({(c, r) for c, r, _, _ in expected})
    sim.configure(**STORM)
    sim.reset_stats()

    outcome = run_sync(drill_env(sim, tmp_path, duckdb_url, dagster_home))
    stats = sim.stats()

    assert outcome.returncode == 0, outcome.tail()
    assert_landed_exactly(expected, observe_landing((tmp_path / "lake").resolve(), duckdb_url))
    # Every fault kind met the client, at about the rate asked for.
    faults = stats["faults_injected"]
    assert faults.get("drop", 0) and faults.get("429", 0) and faults.get("cut_body", 0)
    assert sum(faults.get(str(s), 0) for s in (500, 502, 503, 504)) > 0
    api_calls = sum(stats["calls"].values())
    assert sum(faults.values()) >= 0.2 * api_calls, (faults, api_calls)
    # One accepted publish per eligible run; refused attempts never created a second job.
    assert stats["responses"][PUBLISH].get("200", 0) == eligible_runs
    assert stats["quota_used"] == eligible_runs
