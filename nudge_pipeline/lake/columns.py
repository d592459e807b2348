"""The column types of snapshot and customer files: typed times, and a snapshot's synced_at.

Callers hand the API's records as text. In the lake, a text column named ``*_at`` becomes a
UTC ``timestamp[us, tz=UTC]`` and one named ``*_date`` a ``date32``, so every reader sees
times as times. Text without an offset is taken as UTC, as the warehouse does.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from nudge_pipeline.arrow_rows import parse_times, scalar

from .errors import LakeTableError
from .paths import is_customers_path, parse_snapshot_path

TIMESTAMP = pa.timestamp("us", tz="UTC")
DATE = pa.date32()
SYNCED_AT = "synced_at"


def time_type(name: str) -> pa.DataType | None:
    """The lake type of a text column named ``name``, when it holds times."""
    if name.endswith("_at"):
        return TIMESTAMP
    if name.endswith("_date"):
        return DATE
    return None


def typed_times(table: pa.Table, rel: str) -> pa.Table:
    """``table`` with its time-named text columns parsed; LakeTableError names a bad one."""
    for index, field in enumerate(table.schema):
        target = time_type(field.name)
        if target is None or not pa.types.is_string(field.type):
            continue
        try:
            column = parse_times(table.column(index), target)
        except ValueError as exc:
            raise LakeTableError(rel, field.name, str(exc)) from None
        table = table.set_column(index, pa.field(field.name, target, field.nullable), column)
    return table


def snapshot_form(table: pa.Table, synced_at: datetime, rel: str) -> pa.Table:
    """A snapshot as stored: typed times and a ``synced_at`` column, the sync's time."""
    if SYNCED_AT in table.column_names:
        raise ValueError(f"{SYNCED_AT} is the sync's time, set by the lake; drop the column")
    stamp = pa.repeat(scalar(synced_at, TIMESTAMP), table.num_rows)
    return typed_times(table, rel).append_column(pa.field(SYNCED_AT, TIMESTAMP, False), stamp)


def lake_form(rel: str, table: pa.Table) -> pa.Table:
    """``table`` as stored at ``rel``: snapshots and customer files get their types."""
    snapshot = parse_snapshot_path(rel)
    if snapshot is not None:
        return snapshot_form(table, snapshot[1], rel)
    if is_customers_path(rel):
        return typed_times(table, rel)
    return table
