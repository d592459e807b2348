"""Snapshot assets: campaigns, campaign_runs, customer_groups, customer_profile_fields.

Each lands one Parquet file per sync in the lake and replaces its warehouse table. When the
content has not changed since the last materialization, nothing is written.
"""

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
    previous = previous_metadata(context)
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
            metadata={
                **base,
                "changed": False,
                "lake_relpath": str(old_rel),
                "lake_path": lake.uri(str(old_rel)),
            }
        )
    sync_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    rel = snapshot_path(name, sync_id)
    write_table(lake, rel, table)
    with warehouse_resource.open() as warehouse:
        loaded = warehouse.replace_snapshot(name, table)
    context.log.info(f"{name}: {loaded} rows landed at {lake.uri(rel)}")
    return dg.MaterializeResult(
        metadata={**base, "changed": True, "lake_relpath": rel, "lake_path": lake.uri(rel)}
    )


def _snapshot_of_discovery(
    name: str,
    description: str,
    columns: dict[str, pa.DataType],
    rows_of: Any,
    deps: list[Any],
) -> dg.AssetsDefinition:
    """A snapshot whose rows come straight from the account's discovery."""

    @dg.asset(
        name=name,
        description=description,
        deps=deps,
        group_name=GROUP,
        pool=API_POOL,
        kinds={"parquet", "sql"},
        automation_condition=SNAPSHOT_CONDITION,
    )
    def snapshot(
        context: dg.AssetExecutionContext,
        nudgescribe: NudgescribeResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        rows = rows_of(_account(nudgescribe))
        return land_snapshot(context, name, records_table(rows, columns), lake, warehouse)

    return snapshot


campaigns = _snapshot_of_discovery(
    "campaigns",
    "Every campaign of the account, with its workspace, stage and status.",
    CAMPAIGN_COLUMNS,
    lambda found: found.campaigns,
    deps=[NEW_CAMPAIGN_RUNS],
)
SNAPSHOT_OF_CAMPAIGNS: dict[str, Any] = dict(
    group_name=GROUP,
    pool=API_POOL,
    deps=[campaigns],
    kinds={"parquet", "sql"},
    automation_condition=SNAPSHOT_CONDITION,
)


campaign_runs = _snapshot_of_discovery(
    "campaign_runs",
    "The run history (first generation and reruns) of every campaign.",
    RUN_COLUMNS,
    lambda found: [discovered.run for discovered in found.runs],
    deps=[campaigns],
)
customer_groups = _snapshot_of_discovery(
    "customer_groups",
    "The customer groups of every workspace that holds campaigns.",
    GROUP_COLUMNS,
    lambda found: found.customer_groups,
    deps=[campaigns],
)


@dg.asset(**SNAPSHOT_OF_CAMPAIGNS)
def customer_profile_fields(
    context: dg.AssetExecutionContext,
    nudgescribe: NudgescribeResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The customer profile fields (name and type) of every workspace."""
    spaces = workspace_ids(_account(nudgescribe).campaigns)
    with nudgescribe.client() as client:
        fields = [f for w in spaces for f in client.list_profile_fields(w)]
    return land_snapshot(
        context, "customer_profile_fields", records_table(fields, FIELD_COLUMNS), lake, warehouse
    )


SNAPSHOT_ASSETS = [campaigns, campaign_runs, customer_groups, customer_profile_fields]
