"""EarlyExports: discovery's answer, or its error, always reaches whoever waits for it."""

from pathlib import Path
from typing import Any

import pytest

from nudge_pipeline.landing.early import EarlyExports
from nudge_pipeline.landing.record import now_iso
from nudge_pipeline.settings import load_settings
from tests.fixtures.simulator import sim_settings


def test_a_setting_the_client_refuses_is_the_discovery_error_not_a_hang(tmp_path: Path) -> None:
    settings = load_settings(
        {"NUDGESCRIBE_BASE_URL": "http://127.0.0.1:9", "NUDGE_LAKE_ROOT": str(tmp_path)}
    )
    early = EarlyExports(settings, [], now_iso()).start()
    early._thread.join(timeout=30)
    assert not early._thread.is_alive()
    assert early._discovered.is_set(), "a waiter would wait forever"
    with pytest.raises(Exception, match="api_code"):
        early.wait_for_discovery()


def test_discovery_is_there_for_the_waiter_and_the_exports_go_out(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(workspaces=1, messages_per_run=20, rows_per_file=20)
    settings = sim_settings(sim, tmp_path / "lake")
    sim.reset_stats()
    early = EarlyExports(settings, [], now_iso()).start()
    found = early.wait_for_discovery()
    assert found.eligible_partition_keys
    early.join()
    assert early.failures == []
    accepted = sim.stats()["calls"].get("POST /v1/messages/publish", 0)
    assert accepted == len(found.eligible_partition_keys)
