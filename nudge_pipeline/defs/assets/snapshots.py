"""Snapshot assets: campaigns, campaign_runs, customer_groups, customer_profile_fields.

Each lands one Parquet file per sync in the lake and replaces its warehouse table. When the
content has not changed since the last materialization, nothing is written. The four are
one multi-asset, one step: each step adds Dagster's start, success and set-up work, which
costs more than landing a snapshot. Any subset can be materialized, and one that fails does
not hold back the others.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pyarrow as pa

from nudge_pipeline.defs.assets.common import (
    API_POOL,
    STRING,
    column_schema,
    fingerprint,
    previous_metadata,
    records_table,
)
from nudge_pipeline.defs.automation import NEW_CAMPAIGN_RUNS, SNAPSHOT_CONDITION
from nudge_pipeline.defs.resources import LakeResource, NudgescribeResource, WarehouseResource
from nudge_pipeline.lake import snapshot_path, write_table
from nudge_pipeline.landing.discovery import (
    Discovery,
    discover,
    recent_discovery,
    remember_discovery,
    workspace_ids,
)
from nudge_pipeline.landing.failures import describe

GROUP = "snapshots"

CAMPAIGN_COLUMNS = {
    "campaign_id": STRING,
    "workspace_id": STRING,
    "workspace_name": STRING,
    "campaign_name": STRING,
    "customer_group_id": STRING,
    "status": STRING,
    "stage": STRING,
    "start_date": STRING,
    "end_date": STRING,
    "created_at": STRING,
    "updated_at": STRING,
}
RUN_COLUMNS = {
    "campaign_id": STRING,
    "run_id": STRING,
    "run_number": pa.int32(),
    "status": STRING,
    "started_at": STRING,
    "completed_at": STRING,
    "message_count": pa.int64(),
}
GROUP_COLUMNS = {
    "customer_group_id": STRING,
    "account_id": STRING,
    "workspace_id": STRING,
    "group_name": STRING,
    "created_at": STRING,
    "updated_at": STRING,
    "created_by": STRING,
    "updated_by": STRING,
}
FIELD_COLUMNS = {
    "field_id": STRING,
    "workspace_id": STRING,
    "field_name": STRING,
    "field_type": STRING,
    "is_custom": pa.bool_(),
    "created_at": STRING,
    "updated_at": STRING,
}


def _account(nudgescribe: NudgescribeResource) -> Discovery:
    """Every campaign, run and customer group: this process's recent discovery, or a new one.

    The four snapshots of one run (or one sync) thus list the account once. A campaign whose
    run history cannot be read fails the snapshot rather than leaving its runs out.
    """
    account = nudgescribe.account_key()
    found = recent_discovery(account)
    if found is None:
        with nudgescribe.client() as client:
            found = discover(
                client, nudgescribe.allowed_stages(), readers=nudgescribe.parallel_downloads
            )
        for error in found.failed_campaigns.values():
            raise error
        remember_discovery(account, found)
    return found


def land_snapshot(
    context: dg.AssetExecutionContext,
    name: str,
    table: pa.Table,
    lake_resource: LakeResource,
    warehouse_resource: WarehouseResource,
) -> dg.MaterializeResult:
    lake = lake_resource.lake()
    digest = fingerprint(table)
    previous = previous_metadata(context, asset_key=dg.AssetKey(name))
    old_rel = previous.get("lake_relpath")
    base = {
        "dagster/row_count": table.num_rows,
        "dagster/column_schema": column_schema(table),
        "content_sha256": digest,
        "warehouse_table": f"nudgescribe.{name}",
    }
    if previous.get("content_sha256") == digest and old_rel and lake.exists(str(old_rel)):
        context.log.info(f"{name}: unchanged since the last sync; nothing written")
        return dg.MaterializeResult(
            asset_key=name,
            metadata={
                **base,
                "changed": False,
                "lake_relpath": str(old_rel),
                "lake_path": lake.uri(str(old_rel)),
            },
        )
    sync_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    rel = snapshot_path(name, sync_id)
    write_table(lake, rel, table)
    with warehouse_resource.open() as warehouse:
        loaded = warehouse.replace_snapshot(name, table)
    context.log.info(f"{name}: {loaded} rows landed at {lake.uri(rel)}")
    return dg.MaterializeResult(
        asset_key=name,
        metadata={**base, "changed": True, "lake_relpath": rel, "lake_path": lake.uri(rel)},
    )


def _campaigns(nudgescribe: NudgescribeResource) -> pa.Table:
    return records_table(_account(nudgescribe).campaigns, CAMPAIGN_COLUMNS)


def _campaign_runs(nudgescribe: NudgescribeResource) -> pa.Table:
    runs = [discovered.run for discovered in _account(nudgescribe).runs]
    return records_table(runs, RUN_COLUMNS)


def _customer_groups(nudgescribe: NudgescribeResource) -> pa.Table:
    return records_table(_account(nudgescribe).customer_groups, GROUP_COLUMNS)


def _customer_profile_fields(nudgescribe: NudgescribeResource) -> pa.Table:
    spaces = workspace_ids(_account(nudgescribe).campaigns)
    with nudgescribe.client() as client:
        fields = [f for w in spaces for f in client.list_profile_fields(w)]
    return records_table(fields, FIELD_COLUMNS)


def _spec(name: str, description: str, deps: list[Any]) -> dg.AssetSpec:
    return dg.AssetSpec(
        name,
        description=description,
        deps=deps,
        group_name=GROUP,
        kinds={"parquet", "sql"},
        automation_condition=SNAPSHOT_CONDITION,
    )


# In landing order: campaigns first, as the others' lineage says.
SNAPSHOTS: list[tuple[dg.AssetSpec, Callable[[NudgescribeResource], pa.Table]]] = [
    (
        _spec(
            "campaigns",
            "Every campaign of the account, with its workspace, stage and status.",
            [NEW_CAMPAIGN_RUNS],
        ),
        _campaigns,
    ),
    (
        _spec(
            "campaign_runs",
            "The run history (first generation and reruns) of every campaign.",
            ["campaigns"],
        ),
        _campaign_runs,
    ),
    (
        _spec(
            "customer_groups",
            "The customer groups of every workspace that holds campaigns.",
            ["campaigns"],
        ),
        _customer_groups,
    ),
    (
        _spec(
            "customer_profile_fields",
            "The customer profile fields (name and type) of every workspace.",
            ["campaigns"],
        ),
        _customer_profile_fields,
    ),
]


@dg.multi_asset(
    name="account_snapshots",
    specs=[spec for spec, _ in SNAPSHOTS],
    can_subset=True,
    pool=API_POOL,
    description="The account's campaigns, campaign runs, customer groups and profile fields.",
)
def account_snapshots(
    context: dg.AssetExecutionContext,
    nudgescribe: NudgescribeResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    failures: list[Exception] = []
    for spec, table_of in SNAPSHOTS:
        if spec.key not in context.selected_asset_keys:
            continue
        name = spec.key.to_user_string()
        try:
            landed = land_snapshot(context, name, table_of(nudgescribe), lake, warehouse)
        except Exception as exc:
            context.log.error(f"{name}: not landed: {describe(exc)}")
            failures.append(exc)
            continue
        yield landed
    if failures:  # after the others landed: the step fails with the first cause
        raise failures[0]


SNAPSHOT_ASSETS = [account_snapshots]
