"""Reloading `messages` from the lake alone: one bad run fails alone, and the key check bites."""

from pathlib import Path
from typing import Any

import dagster as dg
from sqlalchemy import text

from nudge_pipeline.defs.assets.checks import no_duplicates_check
from nudge_pipeline.defs.assets.messages import MESSAGE_ASSETS
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, parse_campaign_run_key
from nudge_pipeline.defs.schedules import range_tags
from nudge_pipeline.lake import Lake
from nudge_pipeline.lake.messages import message_file_path
from nudge_pipeline.warehouse import Warehouse
from tests.defs.conftest import discover_with
from tests.fixtures.simulator import small_world


def _loaded_at(wh: Warehouse, keys: list[str]) -> dict[str, tuple[int, Any]]:
    found = {}
    for key in keys:
        campaign_id, run_id = parse_campaign_run_key(key)
        with wh.engine.connect() as conn:
            rows, loaded_at = conn.exec_driver_sql(
                "SELECT count(*), max(loaded_at) FROM nudgescribe.messages"
                " WHERE campaign_id = ? AND run_id = ?",
                (campaign_id, run_id),
            ).one()
        found[key] = (rows, loaded_at)
    return found


def test_a_run_that_fails_to_load_holds_back_no_other_run_of_its_range(
    make_simulator: Any, resources_factory: Any, tmp_path: Path
) -> None:
    sim = make_simulator(**small_world(campaigns_per_stage=2, runs_per_campaign=3))
    resources = resources_factory(sim)
    found = discover_with(resources)
    keys = found.eligible_partition_keys
    assert len(keys) >= 3
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CAMPAIGN_RUNS, keys)
    tags = range_tags(keys[0], keys[-1])

    first = dg.materialize(MESSAGE_ASSETS, instance=instance, resources=resources, tags=tags)
    assert first.success
    with Warehouse(resources["warehouse"].url) as wh:
        assert all(rows == 30 for rows, _ in _loaded_at(wh, keys).values())

    def load_messages(**options: Any) -> dg.ExecuteInProcessResult:
        """The messages step alone, over the whole range."""
        return dg.materialize(
            MESSAGE_ASSETS,
            selection=["messages"],
            instance=instance,
            resources=resources,
            tags=tags,
            **options,
        )

    # Reloading the range from the lake asks nothing of the API.
    sim.reset_stats()
    reload = load_messages()
    assert reload.success
    assert not any(call.startswith("POST /v1/messages") for call in sim.stats()["calls"])
    with Warehouse(resources["warehouse"].url) as wh:
        before = _loaded_at(wh, keys)

    # One run loses a landed file; the messages step alone runs again over the range.
    bad = keys[1]
    lake = Lake(resources["lake"].root)
    lake.fs.delete_file(lake.fs_path(message_file_path(*parse_campaign_run_key(bad), 1)))
    again = load_messages(raise_on_error=False)

    assert not again.success
    observations = [
        e.asset_observation_data.asset_observation
        for e in again.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    observed = {o.partition: o for o in observations}
    assert set(observed) == {bad}
    metadata = {k: getattr(v, "value", v) for k, v in observed[bad].metadata.items()}
    assert metadata["load_status"] == "failed"
    assert "export file 1 is not in the lake" in metadata["reason"]
    landed = {e.materialization.partition for e in again.get_asset_materialization_events()}
    assert landed == set(keys) - {bad}
    with Warehouse(resources["warehouse"].url) as wh:
        after = _loaded_at(wh, keys)
    assert after[bad] == before[bad]  # its old rows stay, untouched
    for key in set(keys) - {bad}:  # the others were replaced, once each
        assert after[key][0] == 30 and after[key][1] > before[key][1]


def _no_duplicates_check(wh: Warehouse) -> dg.AssetCheckResult:
    return no_duplicates_check(wh, {"c~r": ("c", "r")})


def test_the_duplicate_check_trusts_the_primary_key_and_scans_once_it_is_gone(
    postgres_url: str,
) -> None:
    with Warehouse(postgres_url) as wh:
        wh.migrate()
        with wh.engine.begin() as conn:
            for row_num in (1, 2, 3, 4):
                conn.execute(
                    text(
                        "INSERT INTO nudgescribe.messages VALUES"
                        " ('c', 'r', 0, :n, 'x', 'm', NULL, 'j', now())"
                    ),
                    {"n": row_num},
                )
        enforced = _no_duplicates_check(wh)
        assert enforced.passed and enforced.metadata["verified_by"].value == "primary key"

        with wh.engine.begin() as conn:
            conn.execute(text("ALTER TABLE nudgescribe.messages DROP CONSTRAINT messages_pkey"))
            conn.execute(
                text(
                    "INSERT INTO nudgescribe.messages VALUES"
                    " ('c', 'r', 0, 2, 'x', 'm', NULL, 'j', now())"
                )
            )
        assert not wh.messages_key_enforced()
        scanned = _no_duplicates_check(wh)
        assert not scanned.passed
        assert scanned.metadata["verified_by"].value == "scan"
        assert scanned.metadata["duplicated_keys"].value == {"c~r": 1}
