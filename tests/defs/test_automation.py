"""Declarative Automation: what the conditions ask for after the discovery sensor's finds."""

from typing import Any

import dagster as dg

from nudge_pipeline.defs import build_defs
from nudge_pipeline.defs.automation import FOUND_CAMPAIGN_RUNS, NEW_CAMPAIGN_RUNS
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, CUSTOMER_GROUPS
from nudge_pipeline.defs.resources import resources_from_env

RUN_A, RUN_B = "c1~r1", "c1~r2"
SNAPSHOTS = ["campaigns", "campaign_runs", "customer_groups", "customer_profile_fields"]
LANDING = ["message_export", "message_files", "messages"]


def _requested(result: Any, key: str) -> set[str | None]:
    if not result.get_num_requested(dg.AssetKey(key)):
        return set()
    partitions = result.get_requested_partitions(dg.AssetKey(key))
    return set(partitions) if partitions else {None}


def _materialize(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))


def test_reported_runs_refresh_snapshots_and_their_groups_and_new_groups_land_once() -> None:
    defs = build_defs(resources_from_env({}))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CUSTOMER_GROUPS, ["g2"])
    _materialize(instance, "customers", "g2")

    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert not _requested(first, "customers")
    # Switched on with nothing landed: the snapshots are missing, so they are asked for.
    assert {k for k in SNAPSHOTS if _requested(first, k)} == set(SNAPSHOTS)
    for key in SNAPSHOTS:
        _materialize(instance, key)
    quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert quiet.total_requested == 0

    # What the discovery sensor does: partitions, and a report for the group the runs address.
    instance.add_dynamic_partitions(CAMPAIGN_RUNS, [RUN_A, RUN_B])
    instance.add_dynamic_partitions(CUSTOMER_GROUPS, ["g1"])
    _materialize(instance, NEW_CAMPAIGN_RUNS.to_user_string(), "g2")
    found = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    assert not any(_requested(found, key) for key in LANDING)
    assert {k for k in SNAPSHOTS if _requested(found, k)} == set(SNAPSHOTS)
    # g1 is new; g2 already landed but new runs address it.
    assert _requested(found, "customers") == {"g1", "g2"}

    for key in SNAPSHOTS:
        _materialize(instance, key)
    _materialize(instance, "customers", "g1")
    again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=found.cursor)
    assert again.total_requested == 0


def test_what_is_missing_when_automation_is_switched_on_is_asked_for_once() -> None:
    defs = build_defs(resources_from_env({}))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CAMPAIGN_RUNS, [RUN_A])
    instance.add_dynamic_partitions(CUSTOMER_GROUPS, ["g1"])
    for key in SNAPSHOTS[:2]:
        _materialize(instance, key)

    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert {k for k in SNAPSHOTS if _requested(first, k)} == set(SNAPSHOTS[2:])
    assert _requested(first, "customers") == {"g1"}
    assert not any(_requested(first, key) for key in LANDING)
    # Requested but never landed (failed or skipped): not asked for again.
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert second.total_requested == 0


def test_a_found_run_is_landed_once_and_an_unreported_one_never() -> None:
    defs = build_defs(resources_from_env({}))
    instance = dg.DagsterInstance.ephemeral()
    for key in SNAPSHOTS:
        _materialize(instance, key)
    instance.add_dynamic_partitions(CAMPAIGN_RUNS, [RUN_A, RUN_B])
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    # Partitions alone ask for nothing: RUN_B stands for a run that will not be exported.
    assert not any(_requested(first, key) for key in LANDING)

    # What the discovery sensor reports of an eligible new run.
    _materialize(instance, FOUND_CAMPAIGN_RUNS.to_user_string(), RUN_A)
    found = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert {key: _requested(found, key) for key in LANDING} == dict.fromkeys(LANDING, {RUN_A})
    # Requested once: not again, whether it landed, failed or was skipped.
    again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=found.cursor)
    assert not any(_requested(again, key) for key in LANDING)


def test_runs_found_before_automation_was_switched_on_land_once_unless_already_landed() -> None:
    defs = build_defs(resources_from_env({}))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CAMPAIGN_RUNS, [RUN_A, RUN_B])
    for run in (RUN_A, RUN_B):
        _materialize(instance, FOUND_CAMPAIGN_RUNS.to_user_string(), run)
    _materialize(instance, "message_export", RUN_B)  # landed meanwhile, e.g. by a sync

    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert {key: _requested(first, key) for key in LANDING} == dict.fromkeys(LANDING, {RUN_A})
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert not any(_requested(second, key) for key in LANDING)
