"""Bring caller-supplied Arrow tables to the exact column layout of a warehouse table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from nudge_pipeline.arrow_rows import parse_times, scalar
from nudge_pipeline.warehouse.errors import InputError
from nudge_pipeline.warehouse.tables import TableSpec


def conform(rows: pa.Table, spec: TableSpec, defaults: Mapping[str, Any]) -> pa.Table:
    """Columns of `spec` in order and type; `defaults` fill columns the input lacks.

    Unknown columns, missing columns without a default, NULL keys and duplicate keys
    are rejected with an InputError naming the table.
    """
    given = set(rows.column_names)
    unknown = sorted(given - set(spec.column_names))
    if unknown:
        raise InputError(f"{spec.name}: unknown columns {unknown}")
    missing = [c for c in spec.column_names if c not in given and c not in defaults]
    if missing:
        raise InputError(f"{spec.name}: missing columns {missing}")
    columns = []
    for name, arrow_type in spec.columns:
        if name in given:
            columns.append(_cast(rows.column(name), arrow_type, spec.name, name))
        else:
            columns.append(pa.repeat(scalar(defaults[name], arrow_type), rows.num_rows))
    table = pa.Table.from_arrays(columns, schema=spec.arrow_schema)
    _check_keys(table, spec)
    return table


def _cast(column: pa.ChunkedArray, target: pa.DataType, table: str, name: str) -> pa.ChunkedArray:
    if column.type == target:
        return column
    try:
        if pa.types.is_string(column.type) and (
            pa.types.is_date32(target) or pa.types.is_timestamp(target)
        ):
            return parse_times(column, target)
        naive = pa.types.is_timestamp(column.type) and column.type.tz is None
        if pa.types.is_timestamp(target) and naive:
            raise InputError(f"{table}.{name}: naive timestamps are ambiguous; give UTC")
        return column.cast(target)
    except (ValueError, pa.ArrowNotImplementedError) as exc:  # ArrowInvalid is one
        message = f"{table}.{name}: cannot convert {column.type} to {target}: {exc}"
        raise InputError(message) from exc


def _check_keys(table: pa.Table, spec: TableSpec) -> None:
    for key in spec.key:
        if table.column(key).null_count:
            raise InputError(f"{spec.name}: key column {key} holds NULL")
    if table.num_rows == 0:
        return
    # In Python, not Table.group_by: that loads pyarrow.dataset, which imports pandas.
    keys = zip(*(table.column(key).to_pylist() for key in spec.key), strict=True)
    repeated = table.num_rows - len(set(keys))
    if repeated:
        raise InputError(f"{spec.name}: key values appear more than once ({repeated} extra rows)")
