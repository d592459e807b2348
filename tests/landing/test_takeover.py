"""A run whose claim a killed process still holds: the engine takes it over and clears the
record write the dead holder left half done."""

from pathlib import Path
from typing import Any

from nudge_pipeline.lake import Lake, export_state_path
from nudge_pipeline.landing.claim import ClaimStore
from nudge_pipeline.landing.discovery import discover, runs_to_land
from nudge_pipeline.landing.engine import EngineSettings, LandingEngine, Result
from nudge_pipeline.nudgescribe import ClientConfig, NudgescribeClient
from nudge_pipeline.warehouse import Warehouse
from tests.fixtures.simulator import sim_settings, small_world
from tests.landing.holders import dead_holder


def test_a_dead_holders_claim_is_taken_over_and_its_half_written_record_cleared(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(**small_world())
    settings = sim_settings(sim, tmp_path / "lake")
    lake = Lake(settings.lake_root)
    with (
        NudgescribeClient(ClientConfig.from_settings(settings)) as client,
        Warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}") as warehouse,
    ):
        warehouse.migrate()
        found = discover(client, settings.publish_stages)
        runs = runs_to_land(found, found.eligible_partition_keys)
        run = runs[0]
        # A long lease: only knowing the holder is dead lets the engine take the claim now.
        dead = ClaimStore(lake, lease_seconds=3600).acquire(
            run.campaign_id, run.run_id, dead_holder()
        )
        assert dead is not None
        parent, _, name = export_state_path(run.campaign_id, run.run_id).rpartition("/")
        half_written = f"{parent}/.{name}.tmp-{'a' * 32}"
        lake.write_bytes(half_written, b'{"campaign_id": ')

        engine = LandingEngine(client, lake, warehouse, EngineSettings.from_settings(settings))
        results = {o.run.key: o.result for o in engine.land([run])}

        assert results == {run.key: Result.LANDED}
        assert not lake.exists(half_written)
