"""EarlyExports: discovery's answer, or its error, always reaches whoever waits for it; each
export's files land in the lake, fetched once, before any Dagster run."""

from pathlib import Path
from typing import Any

import pytest

from nudge_pipeline.lake import Lake, list_message_files
from nudge_pipeline.landing.early import EarlyExports
from nudge_pipeline.landing.keys import parse_campaign_run_key
from nudge_pipeline.landing.record import RunRecordStore, RunState, now_iso
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


def test_discovery_is_there_for_the_waiter_and_the_exports_land_their_files(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(workspaces=1, messages_per_run=20, rows_per_file=20)
    settings = sim_settings(sim, tmp_path / "lake")
    sim.reset_stats()
    events: list[str] = []
    early = EarlyExports(settings, [], now_iso(), lambda event, _: events.append(event)).start()
    found = early.wait_for_discovery()
    assert found.eligible_partition_keys
    early.join()
    assert early.failures == []
    calls = sim.stats()["calls"]
    assert calls.get("POST /v1/messages/publish", 0) == len(found.eligible_partition_keys)
    lake = Lake(settings.lake_root)
    records = RunRecordStore(lake)
    files = 0
    for key in found.eligible_partition_keys:
        campaign_id, run_id = parse_campaign_run_key(key)
        record = records.get(campaign_id, run_id)
        assert record is not None and record.state is RunState.FILES_LANDED
        landed = [n for n, _ in list_message_files(lake, campaign_id, run_id)]
        assert landed == list(range(record.num_files or 0)) and landed
        files += len(landed)
    assert calls.get("POST /v1/messages/fetch", 0) == files
    # A progress display hears of the files only: the runs end in the Dagster run.
    assert events.count("file_landed") == files and "run_done" not in events
