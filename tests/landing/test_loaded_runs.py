"""A run the lake records as loaded: done where the warehouse holds it, reloaded where not."""

from pathlib import Path
from typing import Any

from nudge_pipeline.lake import Lake
from nudge_pipeline.landing.discovery import discover, runs_to_land
from nudge_pipeline.landing.engine import EngineSettings, LandingEngine, Result
from nudge_pipeline.nudgescribe import ClientConfig, NudgescribeClient
from nudge_pipeline.warehouse import Warehouse
from tests.fixtures.simulator import sim_settings, small_world

PUBLISH, FETCH = "POST /v1/messages/publish", "POST /v1/messages/fetch"


def test_a_loaded_run_is_up_to_date_where_held_and_reloaded_from_the_lake_where_not(
    make_simulator: Any, tmp_path: Path
) -> None:
    sim = make_simulator(**small_world(runs_per_campaign=2))
    settings = sim_settings(sim, tmp_path / "lake")
    lake = Lake(settings.lake_root)
    with (
        NudgescribeClient(ClientConfig.from_settings(settings)) as client,
        Warehouse(f"duckdb:///{tmp_path / 'first.duckdb'}") as first,
        Warehouse(f"duckdb:///{tmp_path / 'second.duckdb'}") as second,
    ):
        first.migrate()
        second.migrate()
        found = discover(client, settings.publish_stages)
        runs = runs_to_land(found, found.eligible_partition_keys)
        assert runs

        def land(warehouse: Warehouse) -> dict[Result, int]:
            engine = LandingEngine(client, lake, warehouse, EngineSettings.from_settings(settings))
            results: dict[Result, int] = {}
            for outcome in engine.land(runs):
                results[outcome.result] = results.get(outcome.result, 0) + 1
            return results

        assert land(first) == {Result.LANDED: len(runs)}
        counts = first.message_counts([(r.campaign_id, r.run_id) for r in runs])
        sim.reset_stats()
        # Held by this warehouse: nothing is loaded again.
        assert land(first) == {Result.UP_TO_DATE: len(runs)}
        assert first.message_counts(list(counts)) == counts
        # Not held by a new warehouse: loaded from the lake.
        assert land(second) == {Result.LANDED: len(runs)}
        assert second.message_counts(list(counts)) == counts
        calls = sim.stats()["calls"]
        assert calls.get(PUBLISH, 0) == 0 and calls.get(FETCH, 0) == 0
