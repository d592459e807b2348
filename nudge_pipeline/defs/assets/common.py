"""Helpers shared by the assets: arrow tables from API records, fingerprints, constants."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pyarrow as pa

from nudge_pipeline.arrow_rows import table_from_rows

API_POOL = "nudgescribe_api"
# Several partitions per run, so a large backfill does not pay one run start-up per partition.
MAX_PARTITIONS_PER_RUN = 25
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)

STRING = pa.string()


def records_table(records: Sequence[Any], columns: Mapping[str, pa.DataType]) -> pa.Table:
    """A table of the named fields of dataclass records (values as received)."""
    schema = pa.schema(list(columns.items()))
    return table_from_rows((dataclasses.asdict(r) for r in records), schema)


def fingerprint(table: pa.Table) -> str:
    """Content hash of a table, independent of row order."""
    rows = sorted(json.dumps(row, sort_keys=True, default=str) for row in table.to_pylist())
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def column_schema(table: pa.Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in table.schema]
    )


def previous_metadata(
    context: dg.AssetExecutionContext,
    partition_key: str | None = None,
    asset_key: dg.AssetKey | None = None,
) -> Mapping[str, Any]:
    """Metadata of the latest materialization of the step's asset, or of `asset_key` (of a
    multi-asset), or of one partition of it, as plain values."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=asset_key or context.asset_key,
            asset_partitions=[partition_key] if partition_key is not None else None,
        ),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return {}
    return plain_metadata(records[0].asset_materialization.metadata)


def plain_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Materialization metadata as plain values (MetadataValue → its value)."""
    return {key: getattr(value, "value", value) for key, value in metadata.items()}
