"""Freshness checks: a snapshot or the customers last updated longer ago than the threshold fail."""

import time
from datetime import timedelta

import dagster as dg

from nudge_pipeline.defs.assets.customers import customers
from nudge_pipeline.defs.assets.snapshots import account_snapshots
from nudge_pipeline.defs.freshness import FRESHNESS_THRESHOLD, freshness_checks
from nudge_pipeline.defs.partitions import CUSTOMER_GROUPS
from nudge_pipeline.defs.resources import resources_from_env

# The time an update happened, as freshness checks read it (external tools report it so).
LAST_UPDATED = "dagster/last_updated_timestamp"


def _updated(
    instance: dg.DagsterInstance, key: str, age: timedelta, partition: str | None = None
) -> None:
    stamp = time.time() - age.total_seconds()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            key, partition=partition, metadata={LAST_UPDATED: dg.MetadataValue.timestamp(stamp)}
        )
    )


def _passed(instance: dg.DagsterInstance, asset: dg.AssetsDefinition, key: str) -> bool:
    checks = freshness_checks([asset])
    result = dg.materialize(
        [asset, *checks],
        instance=instance,
        resources=resources_from_env({}),
        selection=dg.AssetSelection.checks(*checks),
    )
    evaluations = result.get_asset_check_evaluations()
    assert {e.asset_key for e in evaluations} == asset.keys  # one check per asset
    (evaluation,) = [e for e in evaluations if e.asset_key == dg.AssetKey(key)]
    return evaluation.passed


def test_a_snapshot_older_than_the_threshold_fails_its_freshness_check() -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert not _passed(instance, account_snapshots, "campaigns")  # never landed
    _updated(instance, "campaigns", FRESHNESS_THRESHOLD - timedelta(hours=1))
    assert _passed(instance, account_snapshots, "campaigns")
    stale = dg.DagsterInstance.ephemeral()
    _updated(stale, "campaigns", FRESHNESS_THRESHOLD + timedelta(hours=1))
    assert not _passed(stale, account_snapshots, "campaigns")


def test_customers_are_stale_when_no_group_landed_within_the_threshold() -> None:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CUSTOMER_GROUPS, ["g1"])
    _updated(instance, "customers", FRESHNESS_THRESHOLD + timedelta(minutes=5), "g1")
    assert not _passed(instance, customers, "customers")
    _updated(instance, "customers", timedelta(minutes=5), "g1")
    assert _passed(instance, customers, "customers")
