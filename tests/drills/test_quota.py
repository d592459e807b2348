"""Quota: with fewer publishes left than eligible runs, sync lands what it can and stops.

Exports run one at a time here (NUDGE_PARALLEL_DOWNLOADS=1), so the call count is exact:
`quota` accepted publishes, then one refused with 429 "Usage limit exceeded.", which is never
retried and stops the remaining exports (publishing them could only be refused too). With
N parallel exports, up to N publishes can be in flight when the first refusal arrives; each
of them is refused once, never retried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.drills.sync_drill import (
    PUBLISH,
    drill_env,
    lake_messages,
    messages_by_run,
    published_messages,
    run_sync,
    temp_files,
    warehouse_messages,
)

# Two workspaces: two Published campaigns, four eligible runs.
WORLD = {"workspaces": 2, "customer_groups": 1, "messages_per_run": 40, "rows_per_file": 20}
QUOTA = 2


@pytest.mark.slow
def test_exhausted_quota_lands_what_it_can_and_fails_once_without_retrying(
    make_simulator: Any, duckdb_url: str, dagster_home: Path, tmp_path: Path
) -> None:
    sim = make_simulator(**WORLD, publish_quota=QUOTA)
    expected = messages_by_run(published_messages(sim))
    assert len(expected) > QUOTA
    env = drill_env(sim, tmp_path, duckdb_url, dagster_home, NUDGE_PARALLEL_DOWNLOADS="1")
    sim.reset_stats()

    outcome = run_sync(env)
    stats = sim.stats()

    assert outcome.returncode == 1, outcome.tail()
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, outcome.tail()
    assert "quota" in errors[0] and "Usage limit exceeded." in errors[0], errors
    assert stats["calls"].get(PUBLISH, 0) == QUOTA + 1
    assert stats["responses"][PUBLISH] == {"200": QUOTA, "429": 1}
    # The runs published before the quota ran out landed whole; nothing else landed.
    landed = messages_by_run(warehouse_messages(duckdb_url))
    assert len(landed) == QUOTA
    assert all(rows == expected[run] for run, rows in landed.items())
    lake_root = (tmp_path / "lake").resolve()
    assert messages_by_run(lake_messages(lake_root)) == landed
    assert temp_files(lake_root) == []

    # Run again with the quota still spent: one refused publish, nothing re-landed.
    sim.reset_stats()
    again = run_sync(env)
    assert again.returncode == 1, again.tail()
    assert sim.stats()["responses"][PUBLISH] == {"429": 1}
    assert messages_by_run(warehouse_messages(duckdb_url)) == landed
