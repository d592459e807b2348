"""`nudge-pipeline check` against the simulator: one line per check, exit 0 only if all pass."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nudge_pipeline.nudgescribe import QuotaExhaustedError
from nudge_pipeline.simulator import SimHandle

from .helpers import CLI, PUBLISH, client_for, sync_env

CHECKS = ("settings", "API login", "campaigns", "lake", "warehouse")


def run_check(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [CLI, "check"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return result, time.monotonic() - started


def marks(output: str) -> dict[str, str]:
    """check name -> its line, for the five checks; every line starts with its mark."""
    lines = {}
    for line in output.splitlines():
        mark, _, rest = line.partition(" ")
        name = rest.split(":", 1)[0]
        assert mark in ("✓", "✗", "-") and name in CHECKS, line
        lines[name] = line
    assert list(lines) == list(CHECKS)
    return lines


def check_env(sim: SimHandle, tmp_path: Path, **extra: str) -> dict[str, str]:
    return sync_env(sim, tmp_path, f"duckdb:///{tmp_path / 'warehouse.duckdb'}", **extra)


def test_all_good(simulator: SimHandle, tmp_path: Path) -> None:
    result, elapsed = run_check(check_env(simulator, tmp_path))
    lines = marks(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(line.startswith("✓") for line in lines.values()), result.stdout
    assert simulator.base_url in lines["API login"]
    with client_for(simulator) as client:
        campaigns = client.list_campaigns()
    workspaces = {c.workspace_id for c in campaigns}
    assert f"{len(campaigns)} listed in {len(workspaces)} workspace(s)" in lines["campaigns"]
    assert str(tmp_path / "lake") in lines["lake"]
    assert "migration(s) applied now" in lines["warehouse"]
    assert elapsed < 30
    # The probe left nothing behind; the warehouse is ready for a sync.
    assert list((tmp_path / "lake").iterdir()) == []
    again, _ = run_check(check_env(simulator, tmp_path))
    assert again.returncode == 0 and "schema up to date" in marks(again.stdout)["warehouse"]


def test_a_bad_key_fails_the_login_and_names_the_credentials(
    simulator: SimHandle, tmp_path: Path
) -> None:
    result, _ = run_check(check_env(simulator, tmp_path, NUDGESCRIBE_API_SECRET="not-the-secret"))
    lines = marks(result.stdout)
    assert result.returncode == 1
    assert lines["API login"].startswith("✗") and "NUDGESCRIBE_API_SECRET" in lines["API login"]
    assert lines["campaigns"].startswith("-")
    assert lines["lake"].startswith("✓") and lines["warehouse"].startswith("✓")
    assert "not-the-secret" not in result.stdout + result.stderr


def test_a_refused_connection_fails_in_seconds_naming_the_url(
    simulator: SimHandle, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result, elapsed = run_check(check_env(simulator, tmp_path, NUDGESCRIBE_BASE_URL=url))
    lines = marks(result.stdout)
    assert result.returncode == 1
    assert lines["API login"].startswith("✗")
    assert f"{url}/v1/auth" in lines["API login"] and "connection refused" in lines["API login"]
    assert elapsed < 15


def test_an_unwritable_lake_fails_the_lake_check(simulator: SimHandle, tmp_path: Path) -> None:
    # Under a regular file no folder can be made, even for root.
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder\n")
    lake = blocker / "lake"
    result, _ = run_check(check_env(simulator, tmp_path, NUDGE_LAKE_ROOT=str(lake)))
    lines = marks(result.stdout)
    assert result.returncode == 1
    assert lines["lake"].startswith("✗") and str(lake) in lines["lake"]
    assert "NUDGE_LAKE_ROOT" in lines["lake"]
    assert lines["API login"].startswith("✓") and lines["warehouse"].startswith("✓")


def test_an_exhausted_quota_passes_and_nothing_is_published(
    make_simulator: Callable[..., SimHandle], tmp_path: Path
) -> None:
    sim = make_simulator(publish_quota=0)
    result, _ = run_check(check_env(sim, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(line.startswith("✓") for line in marks(result.stdout).values())
    assert sim.stats()["calls"].get(PUBLISH, 0) == 0
    # The account really is out of quota: a publish is refused.
    with client_for(sim) as client:
        campaign = next(c for c in client.list_campaigns() if c.stage == "Published")
        run = next(r for r in client.list_runs(campaign.campaign_id) if r.status == "completed")
        with pytest.raises(QuotaExhaustedError):
            client.publish(campaign.campaign_id, run.run_id)


def test_missing_settings_are_named(tmp_path: Path, simulator: SimHandle) -> None:
    env = check_env(simulator, tmp_path)
    for name in ("NUDGESCRIBE_BASE_URL", "NUDGESCRIBE_API_KEY"):
        env.pop(name)
    result, _ = run_check(env)
    lines = marks(result.stdout)
    assert result.returncode == 1
    assert "NUDGESCRIBE_BASE_URL" in lines["API login"]
    assert "NUDGESCRIBE_API_KEY + NUDGESCRIBE_API_SECRET" in lines["API login"]
