"""The assets, materialized with dg.materialize on an ephemeral instance against the simulator.

Faults are on (5xx, 429, cut bodies, a short token lifetime); the assets must land every
eligible run exactly once and never publish a run that is not eligible.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import text

from nudge_pipeline.defs.assets.customers import customers
from nudge_pipeline.defs.assets.messages import MESSAGE_ASSETS
from nudge_pipeline.defs.assets.snapshots import SNAPSHOT_ASSETS
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, CUSTOMER_GROUPS
from nudge_pipeline.defs.schedules import range_tags
from nudge_pipeline.warehouse import Warehouse
from tests.defs.conftest import discover_with

PUBLISH = "POST /v1/messages/publish"
FETCH = "POST /v1/messages/fetch"


def _materialize_range(
    assets: list[Any], keys: list[str], instance: dg.DagsterInstance, resources: dict[str, Any]
) -> dg.ExecuteInProcessResult:
    """One run over the partitions from the first key to the last, as a backfill makes."""
    return dg.materialize(
        assets, instance=instance, resources=resources, tags=range_tags(keys[0], keys[-1])
    )


def _observations(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict[str, Any]]:
    found = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_OBSERVATION":
            seen = event.asset_observation_data.asset_observation
            if seen.asset_key == dg.AssetKey(asset):
                found[str(seen.partition)] = {
                    k: getattr(v, "value", v) for k, v in seen.metadata.items()
                }
    return found


def _loaded_at(resources: dict[str, Any], run: Any) -> Any:
    with Warehouse(resources["warehouse"].url) as wh, wh.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT MAX(loaded_at) FROM nudgescribe.messages"
                " WHERE campaign_id = :campaign_id AND run_id = :run_id"
            ),
            {"campaign_id": run.campaign.campaign_id, "run_id": run.run.run_id},
        ).scalar_one()


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict[str, Any]]:
    found = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat.asset_key == dg.AssetKey(asset):
            found[str(mat.partition)] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return found


@pytest.mark.slow
def test_assets_land_eligible_runs_once_and_never_publish_others(
    make_simulator: Any, resources_factory: Any, tmp_path: Path
) -> None:
    sim = make_simulator(
        fault_5xx_rate=0.08, fault_429_rate=0.08, fault_cut_body_rate=0.2, token_ttl=4
    )
    resources = resources_factory(sim)
    found = discover_with(resources)
    eligible = found.eligible_partition_keys
    run_keys = found.run_partition_keys
    assert eligible and set(eligible) < set(run_keys), "the world needs ineligible runs too"

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CAMPAIGN_RUNS, run_keys)
    instance.add_dynamic_partitions(CUSTOMER_GROUPS, found.group_partition_keys)

    snapshots = dg.materialize(SNAPSHOT_ASSETS, instance=instance, resources=resources)
    assert snapshots.success
    groups = found.group_partition_keys
    landed_customers = _materialize_range([customers], groups, instance, resources)
    assert landed_customers.success

    # One run over every completed run, eligible or not: the policy decides inside.
    result = _materialize_range(MESSAGE_ASSETS, run_keys, instance, resources)
    assert result.success
    # The run says which campaigns it is about (the partition keys are two UUIDs).
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["nudge/campaign_runs"] == str(len(run_keys))
    names = {r.campaign.campaign_name for r in found.completed_runs}
    listed = tags["nudge/campaigns"]
    assert listed.startswith(sorted(names)[0])
    assert set(listed.split("; ")) == names or listed.endswith(f"… ({len(names)})")
    assert "Published" in tags["nudge/stages"].split("; ")
    exports = _metadata(result, "message_export")
    assert set(exports) == set(eligible), "a skipped run is never materialized"
    observed = _observations(result, "message_export")
    assert set(observed) == set(run_keys) - set(eligible)
    by_key = {r.partition_key: r for r in found.completed_runs}
    with Warehouse(resources["warehouse"].url) as wh:
        for key in run_keys:
            run = by_key[key]
            rows = wh.message_count(run.campaign.campaign_id, run.run.run_id)
            if key in eligible:
                assert exports[key]["load_status"] == "loaded"
                assert exports[key]["campaign_name"] == run.campaign.campaign_name
                assert exports[key]["job_id"] and exports[key]["num_files"] >= 1
                assert rows == run.run.message_count
            else:
                assert observed[key]["load_status"] == "skipped"
                assert "NUDGE_PUBLISH_STAGES" in observed[key]["reason"]
                assert rows == 0
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["rows_reconcile_api_csv_parquet_table"].passed
    assert checks["all_export_files_landed"].passed
    assert checks["no_duplicate_file_row_keys"].passed
    # Every message goes to a customer of the campaign's group.
    assert checks["customers_are_known"].passed

    # Nothing ineligible moved to Published as a side effect of our publishes.
    stages_after = {c.campaign_id: c.stage for c in discover_with(resources).campaigns}
    for run in found.completed_runs:
        if not run.eligibility.eligible:
            assert stages_after[run.campaign.campaign_id] == run.campaign.stage

    # Materializing loaded partitions again changes nothing: the warehouse holds them, so
    # each says it is loaded already; nothing is published, fetched or loaded again.
    sim.reset_stats()
    before = {key: _loaded_at(resources, by_key[key]) for key in eligible}
    again = _materialize_range(MESSAGE_ASSETS, run_keys, instance, resources)
    assert again.success
    calls = sim.stats()["calls"]
    assert calls.get(PUBLISH, 0) == 0 and calls.get(FETCH, 0) == 0
    assert _metadata(again, "messages") == {}
    observed_again = _observations(again, "messages")
    assert all(observed_again[k]["load_status"] == "loaded" for k in eligible)
    assert {key: _loaded_at(resources, by_key[key]) for key in eligible} == before


@pytest.mark.slow
def test_messages_to_unknown_customers_warn(make_simulator: Any, resources_factory: Any) -> None:
    sim = make_simulator(
        workspaces=1,
        messages_per_run=50,
        customers_per_group=20,
        messages_to_unknown_customers=True,
    )
    resources = resources_factory(sim)
    found = discover_with(resources)
    eligible = found.eligible_partition_keys
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CAMPAIGN_RUNS, found.run_partition_keys)
    instance.add_dynamic_partitions(CUSTOMER_GROUPS, found.group_partition_keys)
    groups = found.group_partition_keys
    assert _materialize_range([customers], groups, instance, resources).success
    result = _materialize_range(MESSAGE_ASSETS, eligible, instance, resources)
    assert result.success  # a warning does not fail the run
    unknown = next(
        c for c in result.get_asset_check_evaluations() if c.check_name == "customers_are_known"
    )
    assert not unknown.passed and unknown.severity == dg.AssetCheckSeverity.WARN
    assert 0 < unknown.metadata["unknown_customer_messages"].value <= 50 * len(eligible)
