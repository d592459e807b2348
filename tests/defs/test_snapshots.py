"""The four snapshots share one step: any subset lands alone, and one that fails holds back
none of the others."""

from collections.abc import Callable
from typing import Any

import dagster as dg
import pytest

from nudge_pipeline.defs.assets.snapshots import SNAPSHOT_ASSETS
from nudge_pipeline.defs.sync import step_error_line
from nudge_pipeline.nudgescribe.client import NudgescribeClient
from nudge_pipeline.nudgescribe.errors import ContractViolationError
from nudge_pipeline.warehouse import Warehouse
from tests.defs.conftest import discover_with

FIELDS_CALL = "POST /v1/fields"


def _landed(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """Row count of each snapshot materialized, by asset name."""
    return {
        event.asset_key.path[-1]: event.materialization.metadata["dagster/row_count"].value
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    }


def test_a_subset_lands_alone_and_asks_only_what_it_needs(
    make_simulator: Any, resources_factory: Any
) -> None:
    sim = make_simulator()
    resources = resources_factory(sim)
    sim.reset_stats()
    result = dg.materialize(
        SNAPSHOT_ASSETS,
        instance=dg.DagsterInstance.ephemeral(),
        resources=resources,
        selection=["customer_groups"],
    )
    assert result.success
    groups = discover_with(resources).customer_groups
    assert _landed(result) == {"customer_groups": len(groups)} and groups
    assert sim.stats()["calls"].get(FIELDS_CALL, 0) == 0


def _fields_answer_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator answers every endpoint well-formed: this is the odd case it cannot make.
    def malformed(self: NudgescribeClient, workspace_id: str) -> list[Any]:
        raise ContractViolationError(FIELDS_CALL, 200, "profile fields is not a list")

    monkeypatch.setattr(NudgescribeClient, "list_profile_fields", malformed)


def _warehouse_refuses_campaign_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    replace = Warehouse.replace_snapshot

    def refusing(self: Warehouse, name: str, table: Any) -> int:
        if name == "campaign_runs":
            raise OSError("disk full while replacing campaign_runs")
        return replace(self, name, table)

    monkeypatch.setattr(Warehouse, "replace_snapshot", refusing)


@pytest.mark.parametrize(
    ("fault", "failed", "cause"),
    [
        (_fields_answer_malformed, "customer_profile_fields", "profile fields is not a list"),
        (_warehouse_refuses_campaign_runs, "campaign_runs", "disk full"),
    ],
    ids=["fields answer malformed", "warehouse refuses campaign_runs"],
)
def test_a_snapshot_that_fails_holds_back_none_of_the_others(
    make_simulator: Any,
    resources_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    fault: Callable[[pytest.MonkeyPatch], None],
    failed: str,
    cause: str,
) -> None:
    sim = make_simulator()
    resources = resources_factory(sim)
    found = discover_with(resources)
    rows = {
        "campaigns": len(found.campaigns),
        "campaign_runs": len(found.runs),
        "customer_groups": len(found.customer_groups),
    }
    fault(monkeypatch)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        SNAPSHOT_ASSETS, instance=instance, resources=resources, raise_on_error=False
    )
    assert not result.success
    landed = _landed(result)
    assert set(landed) == {*rows, "customer_profile_fields"} - {failed}
    assert all(landed[name] == count for name, count in rows.items() if name != failed)
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None and cause in error.to_string()
    # What `sync` reports of the step: the cause, not Dagster's "Error occurred while executing".
    assert cause in step_error_line(error) and "executing" not in step_error_line(error)
    assert instance.get_latest_materialization_event(dg.AssetKey(failed)) is None
