"""Arrow tables and scalars from Python values, through pyarrow's JSON reader.

Converting Python objects with `pa.array`, `pa.table` or `pa.scalar` makes pyarrow import
pandas when it is installed: 0.3 s and 40 MB more in every process that lands anything.
The JSON reader builds the same columns natively, with the types of an explicit schema.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} has no JSON form")


def table_from_rows(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """The rows as a table of `schema`; fields missing from a row are null, others ignored.

    Timestamps are given as aware datetimes (or ISO 8601 text with an offset).
    """
    data = b"".join(
        json.dumps(row, default=_json_value, ensure_ascii=False).encode() + b"\n" for row in rows
    )
    if not data:
        return schema.empty_table()
    # The reader parses timestamps but not dates: those are read as text, then cast.
    as_read = pa.schema(
        [f.with_type(pa.string()) if pa.types.is_date(f.type) else f for f in schema]
    )
    table = pa_json.read_json(
        io.BytesIO(data),
        # One block for everything: the data is in memory already, and a row larger than a
        # block would fail.
        read_options=pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1),
        parse_options=pa_json.ParseOptions(
            explicit_schema=as_read, unexpected_field_behavior="ignore"
        ),
    )
    columns = [table.column(f.name).cast(f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def scalar(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    """`value` as an Arrow scalar of `arrow_type`; text and integers straight from buffers."""
    if pa.types.is_string(arrow_type) and isinstance(value, str):
        data = value.encode("utf-8")
        offsets = np.array([0, len(data)], dtype=np.int32)
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        return pa.Array.from_buffers(arrow_type, 1, buffers)[0]
    if pa.types.is_integer(arrow_type) and isinstance(value, int) and not isinstance(value, bool):
        signed = "int" if pa.types.is_signed_integer(arrow_type) else "uint"
        number = np.array([value], dtype=f"{signed}{arrow_type.bit_width}")
        return pa.Array.from_buffers(arrow_type, 1, [None, pa.py_buffer(number)])[0]
    return table_from_rows([{"value": value}], pa.schema([("value", arrow_type)])).column(0)[0]


def array_of(values: Iterable[Any], arrow_type: pa.DataType) -> pa.ChunkedArray:
    """Python values (None for null) as one column of `arrow_type`."""
    return table_from_rows(
        ({"value": v} for v in values), pa.schema([("value", arrow_type)])
    ).column(0)


def parse_times(column: pa.ChunkedArray | pa.Array, target: pa.DataType) -> pa.ChunkedArray:
    """ISO 8601 text as UTC timestamps or dates of `target`; text without an offset is UTC.

    Raises ValueError naming the first value that is not a date or time.
    """
    chunked = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    with contextlib.suppress(pa.ArrowInvalid):
        return chunked.cast(target)  # the usual case: every value has an offset
    return array_of(
        (None if v is None else _parse_time(v, target) for v in chunked.to_pylist()), target
    )


def _parse_time(value: str, target: pa.DataType) -> date | datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or time: {value!r}") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.date() if pa.types.is_date(target) else moment
