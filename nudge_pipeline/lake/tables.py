"""Whole small tables (customer pages, snapshots) written atomically as Parquet."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from .columns import lake_form
from .paths import is_customers_path, legacy_customers_dir_of
from .store import Lake

TABLE_ROW_GROUP_ROWS = 128 * 1024


def write_table(
    lake: Lake, rel: str, table: pa.Table, *, metadata: Mapping[str, str] | None = None
) -> str:
    """Write ``table`` to ``rel`` (see ``paths``) atomically; returns its URI.

    At a ``snapshot_path`` or ``customers_path``, text columns named ``*_at``/``*_date``
    are stored as UTC timestamps/dates (LakeTableError if a value is neither), and a
    snapshot gains ``synced_at`` (see ``columns``).
    """
    table = lake_form(rel, table)
    with lake.atomic_output(rel) as sink:
        writer = pq.ParquetWriter(sink, table.schema, compression="zstd")
        try:
            writer.write_table(table, row_group_size=TABLE_ROW_GROUP_ROWS)
            if metadata:
                writer.add_key_value_metadata(dict(metadata))
        finally:
            writer.close()
    if is_customers_path(rel):
        # The group's file of the legacy layout is superseded; left there, it would keep
        # readers from reading customers/ (see paths).
        lake.delete_dir(legacy_customers_dir_of(rel))
    return lake.uri(rel)


def read_table(lake: Lake, rel: str) -> pa.Table:
    return lake.parquet_file(rel).read()
