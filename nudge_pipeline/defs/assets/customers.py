"""Customers, one partition per customer group: pages → Parquet → warehouse.

The lake keeps extended_profile exactly as received (ciphertext included). Decrypted values
go only to nudgescribe.customer_profile_values, and only when NUDGESCRIBE_PROFILE_KEY is set.
"""

import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pyarrow as pa

from nudge_pipeline.arrow_rows import table_from_rows
from nudge_pipeline.defs import progress
from nudge_pipeline.defs.assets.common import (
    API_POOL,
    BACKFILL_POLICY,
    STRING,
    column_schema,
    fingerprint,
    previous_metadata,
)
from nudge_pipeline.defs.automation import CUSTOMERS_CONDITION, NEW_CAMPAIGN_RUNS
from nudge_pipeline.defs.partitions import customer_groups_partitions
from nudge_pipeline.defs.resources import LakeResource, NudgescribeResource, WarehouseResource
from nudge_pipeline.lake import Lake, customers_path, write_table
from nudge_pipeline.lake.paths import customers_dir
from nudge_pipeline.landing.failures import GLOBAL_CAUSES, cause_of, describe
from nudge_pipeline.nudgescribe.models import Customer
from nudge_pipeline.nudgescribe.profile import decrypt_profile, is_encrypted

CUSTOMER_COLUMNS = {
    "customer_group_id": STRING,
    "customer_id": STRING,
    "account_id": STRING,
    "workspace_id": STRING,
    "extended_profile": STRING,
    "created_at": STRING,
    "updated_at": STRING,
    "created_by": STRING,
    "updated_by": STRING,
}
CUSTOMERS_SCHEMA = pa.schema(list(CUSTOMER_COLUMNS.items()))
PROFILE_VALUES_SCHEMA = pa.schema(
    [
        *(
            (name, STRING)
            for name in ("customer_group_id", "customer_id", "field_name", "value", "field_type")
        ),
        ("is_encrypted", pa.bool_()),
    ]
)


def customers_table(group_id: str, customers: list[Customer]) -> pa.Table:
    rows = (
        {
            "customer_group_id": group_id,
            "customer_id": c.customer_id,
            "account_id": c.account_id,
            "workspace_id": c.workspace_id,
            "extended_profile": json.dumps(c.extended_profile, ensure_ascii=False),
            "created_at": c.created_at,
            "updated_at": c.updated_at,
            "created_by": c.created_by,
            "updated_by": c.updated_by,
        }
        for c in customers
    )
    return table_from_rows(rows, CUSTOMERS_SCHEMA)


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def profile_values_table(
    group_id: str, customers: list[Customer], key: str, field_types: dict[tuple[str, str], str]
) -> pa.Table:
    rows = (
        {
            "customer_group_id": group_id,
            "customer_id": c.customer_id,
            "field_name": name,
            "value": _as_text(value),
            "field_type": field_types.get((c.workspace_id or "", name)),
            "is_encrypted": is_encrypted(c.extended_profile.get(name)),
        }
        for c in customers
        for name, value in decrypt_profile(c.extended_profile, key).items()
    )
    return table_from_rows(rows, PROFILE_VALUES_SCHEMA)


def _replace_lake_file(lake: Lake, group_id: str, pages: int, table: pa.Table) -> str:
    rel = customers_path(group_id, 1 if pages else 0, max(pages, 1) if pages else 0)
    write_table(lake, rel, table)
    for stale in lake.list_files(customers_dir(group_id)):
        if stale != rel:
            lake.delete(stale)
    return rel


@dg.multi_asset(
    name="customers",
    specs=[
        dg.AssetSpec(
            "customers",
            group_name="customers",
            partitions_def=customer_groups_partitions,
            deps=["customer_groups", NEW_CAMPAIGN_RUNS],
            kinds={"api", "parquet", "sql"},
            description="The customers of each customer group, with their extended profile.",
            # A group that failed is not shown as materialized.
            skippable=True,
            automation_condition=CUSTOMERS_CONDITION,
        )
    ],
    backfill_policy=BACKFILL_POLICY,
    pool=API_POOL,
)
def customers(
    context: dg.AssetExecutionContext,
    nudgescribe: NudgescribeResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.AssetMaterialization | dg.AssetObservation]:
    """The customers of each customer group, with their extended profile."""
    the_lake = lake.lake()
    failures: dict[str, str] = {}
    stopped_by = ""
    key = nudgescribe.profile_key or None
    with nudgescribe.client() as client, warehouse.open() as wh:
        field_types: dict[tuple[str, str], str] = {}
        for group_id in context.partition_keys:
            if stopped_by:
                failures[group_id] = f"not attempted: {stopped_by}"
                continue
            try:
                info = client.customer_page_info(group_id)
                found = [c for _, page in client.iter_customer_pages(group_id) for c in page]
                table = customers_table(group_id, found)
                digest = fingerprint(table) + (":decrypted" if key else ":as-received")
                previous = previous_metadata(context, group_id)
                old_rel = previous.get("lake_relpath")
                metadata: dict[str, Any] = {
                    "dagster/row_count": table.num_rows,
                    "pages": info.pages,
                    "content_sha256": digest,
                    "profile_values_decrypted": bool(key),
                }
                if (
                    previous.get("content_sha256") == digest
                    and old_rel
                    and the_lake.exists(str(old_rel))
                ):
                    context.log.info(f"customer group {group_id}: unchanged; nothing written")
                    metadata.update(changed=False, lake_relpath=str(old_rel))
                else:
                    rel = _replace_lake_file(the_lake, group_id, info.pages, table)
                    values = None
                    if key:
                        for workspace_id in {c.workspace_id for c in found if c.workspace_id}:
                            if not any(w == workspace_id for w, _ in field_types):
                                for f in client.list_profile_fields(workspace_id):
                                    field_types[(workspace_id, f.field_name)] = f.field_type or ""
                        values = profile_values_table(group_id, found, key, field_types)
                    loaded = wh.replace_customers(group_id, table, values)
                    metadata.update(
                        changed=True,
                        lake_relpath=rel,
                        uncastable_profile_values=loaded.uncastable_profile_values,
                    )
                metadata["lake_path"] = the_lake.uri(str(metadata["lake_relpath"]))
                metadata["dagster/column_schema"] = column_schema(table)
                yield dg.AssetMaterialization(
                    asset_key="customers", partition=group_id, metadata=metadata
                )
                progress.emit("customers_landed", key=group_id, rows=table.num_rows)
            except Exception as exc:
                cause = cause_of(exc)
                failures[group_id] = f"{cause}: {describe(exc)}"
                context.log.error(f"customer group {group_id}: {failures[group_id]}")
                yield dg.AssetObservation(
                    asset_key="customers",
                    partition=group_id,
                    metadata={"load_status": "failed", "cause": cause, "reason": describe(exc)},
                )
                if cause in GLOBAL_CAUSES:
                    stopped_by = cause
    if failures:
        raise dg.Failure(
            description=f"{len(failures)} customer group(s) failed:\n"
            + "\n".join(f"{group}: {why}" for group, why in failures.items()),
            allow_retries=False,
        )
