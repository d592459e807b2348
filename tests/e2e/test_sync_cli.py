"""`nudge-pipeline sync` end to end, in a subprocess.

Through throttling, server errors, cut bodies and short-lived tokens, every eligible message
lands exactly once with its text unchanged; nothing of ineligible runs or stages lands; a
second sync publishes nothing and writes no rows. "Ready to Publish" is exported only when
explicitly allowed.
"""

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import (
    PUBLISH,
    expected_messages,
    files_metadata,
    landed_messages,
    last_load,
    run_sync,
    snapshot_rows,
    sync_env,
)
from tests.fixtures.simulator import small_world

FAULTS = {
    "fault_5xx_rate": 0.05,
    "fault_429_rate": 0.05,
    "fault_cut_body_rate": 0.1,
    "token_ttl": 3,
}


@pytest.mark.slow
def test_sync_lands_eligible_messages_once_and_a_second_sync_changes_nothing(
    make_simulator: Any, warehouse_url: str, tmp_path: Path
) -> None:
    sim = make_simulator(**FAULTS)
    env = sync_env(sim, tmp_path, warehouse_url)

    first = run_sync(env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "landed" in first.stdout
    expected = expected_messages(sim, {"Published"})
    assert expected, "the simulator must hold published campaigns"
    assert landed_messages(warehouse_url) == expected

    sim.reset_stats()
    before = last_load(warehouse_url)
    second = run_sync(env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert sim.stats()["calls"].get(PUBLISH, 0) == 0
    assert last_load(warehouse_url) == before
    assert "already up to date" in second.stdout


@pytest.mark.slow
def test_ready_to_publish_is_exported_only_when_opted_in(
    make_simulator: Any, duckdb_url: str, tmp_path: Path
) -> None:
    sim = make_simulator(**small_world())
    env = sync_env(sim, tmp_path, duckdb_url)
    ready = expected_messages(sim, {"Ready to Publish"})
    published = expected_messages(sim, {"Published"})
    assert ready, "the simulator must hold Ready to Publish campaigns with completed runs"

    default = run_sync(env)
    assert default.returncode == 0, default.stdout[-3000:] + default.stderr[-3000:]
    assert landed_messages(duckdb_url) == published
    assert expected_messages(sim, {"Ready to Publish"}) == ready  # still not published

    opted_in = run_sync({**env, "NUDGE_PUBLISH_STAGES": "Published,Ready to Publish"})
    assert opted_in.returncode == 0, opted_in.stdout[-3000:] + opted_in.stderr[-3000:]
    assert landed_messages(duckdb_url) == published + ready


def test_a_new_warehouse_is_filled_from_the_lake_without_publishing(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(**small_world(runs_per_campaign=2))
    first_url = f"duckdb:///{tmp_path / 'first.duckdb'}"
    env = sync_env(sim, tmp_path, first_url)
    first = run_sync(env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    expected = expected_messages(sim, {"Published"})
    assert expected and landed_messages(first_url) == expected
    # Its summary gives each snapshot's rows, as its warehouse table holds them.
    summary = " ".join(first.stdout.split())
    for name, rows in snapshot_rows(first_url).items():
        assert rows and f"{name} {rows}" in summary, summary
    # The sync fetched every file (before its Dagster run began), and its metadata says so.
    first_files = files_metadata(env["DAGSTER_HOME"])
    assert first_files and all(
        m["files_downloaded"] == m["num_files"] > 0 and m["files_reused"] == 0 for m in first_files
    )

    # Same instance and lake, another warehouse: Dagster says materialized, the warehouse
    # holds nothing. Its rows come from the lake; nothing is published or fetched again.
    sim.reset_stats()
    second_url = f"duckdb:///{tmp_path / 'second.duckdb'}"
    second = run_sync({**env, "NUDGE_WAREHOUSE_URL": second_url})
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert landed_messages(second_url) == expected
    calls = sim.stats()["calls"]
    assert calls.get(PUBLISH, 0) == 0 and calls.get("POST /v1/messages/fetch", 0) == 0
    since = max(m["storage_id"] for m in first_files)
    reloaded = files_metadata(env["DAGSTER_HOME"], after_storage_id=since)
    assert len(reloaded) == len(first_files)
    assert all(m["files_downloaded"] == 0 and m["files_reused"] == m["num_files"] for m in reloaded)

    # And once it holds them, the next sync leaves both alone.
    before = last_load(second_url)
    third = run_sync({**env, "NUDGE_WAREHOUSE_URL": second_url})
    assert third.returncode == 0 and last_load(second_url) == before
