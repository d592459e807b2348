"""`nudge-pipeline plan`: what a sync would publish, reuse and skip, with no mutating call."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import CLI, PUBLISH, run_sync, sync_env

# Calls that change something on the account, or spend its metered quota.
MUTATING = ("publish", "messages/pages", "PUT ", "PATCH ", "DELETE ", "POST /v1/campaign/rerun ")


def _plan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "plan", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _mutating_calls(stats: dict[str, Any]) -> dict[str, int]:
    calls = stats["calls"]
    return {name: n for name, n in calls.items() if any(m in name + " " for m in MUTATING)}


@pytest.mark.slow
def test_plan_changes_nothing_and_a_sync_does_what_it_said(
    make_simulator: Any, duckdb_url: str, tmp_path: Path
) -> None:
    sim = make_simulator(workspaces=1, messages_per_run=40, rows_per_file=20)
    env = sync_env(sim, tmp_path, duckdb_url)
    sim.reset_stats()

    planned = _plan(env, "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert _mutating_calls(sim.stats()) == {}
    actions = {run["key"]: run["action"] for run in plan["runs"]}
    to_publish = {k for k, a in actions.items() if a == "publish"}
    assert to_publish and plan["quota_spent"] == len(to_publish)
    skipped = [run for run in plan["runs"] if run["action"] == "skip"]
    assert skipped and all("NUDGE_PUBLISH_STAGES" in run["reason"] for run in skipped)

    sim.reset_stats()
    assert run_sync(env).returncode == 0
    assert sim.stats()["calls"].get(PUBLISH, 0) == len(to_publish)

    # After the sync: every planned publish is up to date, and nothing would be published.
    sim.reset_stats()
    again = json.loads(_plan(env, "--json").stdout)
    assert again["quota_spent"] == 0
    assert {r["key"] for r in again["runs"] if r["action"] == "up to date"} == to_publish
    assert _mutating_calls(sim.stats()) == {}

    text = _plan(env)
    assert text.returncode == 0
    assert "would publish 0 run(s)" in text.stdout
    assert "skip" in text.stdout and "NUDGE_PUBLISH_STAGES" in text.stdout


def test_plan_with_a_bad_key_fails_clearly(
    make_simulator: Any, duckdb_url: str, tmp_path: Path
) -> None:
    sim = make_simulator(workspaces=1)
    env = sync_env(sim, tmp_path, duckdb_url, NUDGESCRIBE_API_SECRET="not-the-secret")
    result = _plan(env)
    assert result.returncode != 0
    assert "not-the-secret" not in result.stdout + result.stderr
    assert _mutating_calls(sim.stats()) == {}


def test_plan_against_a_refused_connection_fails_fast_with_the_url(
    duckdb_url: str, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        "PATH": "/usr/bin:/bin",
        "NUDGESCRIBE_BASE_URL": f"http://127.0.0.1:{port}",
        "NUDGESCRIBE_API_CODE": "code",
        "NUDGESCRIBE_TOKEN": "a.b.c",
        "NUDGE_LAKE_ROOT": str(tmp_path / "lake"),
        "NUDGE_WAREHOUSE_URL": duckdb_url,
    }
    result = _plan(env)
    assert result.returncode != 0
    assert f"127.0.0.1:{port}" in result.stdout + result.stderr


def test_plan_on_a_spent_quota_and_an_unwritable_lake_still_says_what_it_would_do(
    make_simulator: Any, duckdb_url: str, tmp_path: Path
) -> None:
    sim = make_simulator(workspaces=1, publish_quota=0)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = sync_env(sim, tmp_path, duckdb_url, NUDGE_LAKE_ROOT=str(blocker / "lake"))
    sim.reset_stats()
    result = _plan(env, "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["quota_spent"] > 0  # what a sync would try; the plan itself spends nothing
    assert _mutating_calls(sim.stats()) == {}
