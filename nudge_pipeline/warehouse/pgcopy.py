"""PostgreSQL binary COPY rows built from Arrow batches with vectorised Arrow kernels.

Each row is `int16 field count` then, per field, `int32 length` (-1 for NULL) and the
value bytes. pyarrow's binary_join_element_wise glues the per-field pieces of every
row in C++, so no Python code runs per row.
"""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_EPOCH_US = int(_PG_EPOCH.timestamp()) * 1_000_000
_PG_EPOCH_DAYS = date(2000, 1, 1).toordinal() - date(1970, 1, 1).toordinal()
_NULL_FIELD = struct.pack("!i", -1)


def _binary_scalar(data: bytes) -> pa.Scalar:
    # Built from buffers: pa.scalar on a Python value makes pyarrow import pandas.
    offsets = struct.pack("<ii", 0, len(data))
    return pa.Array.from_buffers(pa.binary(), 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])[
        0
    ]


_JSONB_VERSION = _binary_scalar(b"\x01")
_EMPTY = _binary_scalar(b"")

# An Arrow array (one value per row) or a binary scalar (the same bytes in every row).
Piece: TypeAlias = Any


def _be_bytes(values: np.ndarray, width: int) -> pa.Array:
    """Big-endian fixed-width bytes of an integer numpy array, as a binary array."""
    raw = np.ascontiguousarray(values.astype(f">i{width}"))
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(raw), [None, pa.py_buffer(raw.view(np.uint8))]
    )
    return fixed.cast(pa.binary())


def _length_headers(lengths: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    if valid is not None:
        lengths = np.where(valid, lengths, -1)
    return _be_bytes(lengths, 4)


def _validity(arr: pa.Array) -> np.ndarray | None:
    if arr.null_count == 0:
        return None
    return np.asarray(arr.is_valid())


def encode_field(arr: pa.Array, *, jsonb: bool = False) -> list[Piece]:
    """The per-row binary COPY pieces (length header and value) of one column.

    With `jsonb`, text goes to a jsonb column, whose binary form is a version byte (1)
    before the JSON text; the server parses and validates the text.
    """
    valid = _validity(arr)
    kind = arr.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        data = arr.cast(pa.binary())
        lengths = np.asarray(pc.binary_length(data).fill_null(0), dtype=np.int64)
        if not jsonb:
            return [_length_headers(lengths, valid), data.fill_null(b"")]
        body = pc.binary_join_element_wise(_JSONB_VERSION, data.fill_null(b""), _EMPTY)
        return [_length_headers(lengths + 1, valid), _nulls_empty(body, valid)]
    if jsonb:
        raise TypeError(f"a jsonb column needs text, not Arrow type {kind}")
    if pa.types.is_int32(kind) or pa.types.is_int64(kind) or pa.types.is_int16(kind):
        width = {16: 2, 32: 4, 64: 8}[kind.bit_width]
        body = _be_bytes(np.asarray(arr.fill_null(0), dtype=np.int64), width)
        return [_length_headers(np.full(len(arr), width), valid), _nulls_empty(body, valid)]
    if pa.types.is_float64(kind):
        bits = np.asarray(arr.fill_null(0.0), dtype=np.float64).view(np.int64)
        body = _be_bytes(bits, 8)
        return [_length_headers(np.full(len(arr), 8), valid), _nulls_empty(body, valid)]
    if pa.types.is_timestamp(kind):
        micros = np.asarray(arr.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).fill_null(0))
        body = _be_bytes(micros - _PG_EPOCH_US, 8)
        return [_length_headers(np.full(len(arr), 8), valid), _nulls_empty(body, valid)]
    if pa.types.is_date32(kind):
        days = np.asarray(arr.cast(pa.int32()).fill_null(0), dtype=np.int64)
        body = _be_bytes(days - _PG_EPOCH_DAYS, 4)
        return [_length_headers(np.full(len(arr), 4), valid), _nulls_empty(body, valid)]
    if pa.types.is_boolean(kind):
        body = _be_bytes(np.asarray(arr.fill_null(False), dtype=np.int64), 1)
        return [_length_headers(np.full(len(arr), 1), valid), _nulls_empty(body, valid)]
    if pa.types.is_null(kind):
        return [pa.scalar(_NULL_FIELD, pa.binary())]
    raise TypeError(f"no binary COPY encoding for Arrow type {kind}")


def _nulls_empty(body: pa.Array, valid: np.ndarray | None) -> pa.Array:
    if valid is None:
        return body
    return pc.if_else(pa.array(valid), body, _EMPTY)


def encode_constant(value: str | int | datetime | None, arrow_type: pa.DataType) -> bytes:
    """The binary COPY bytes of a value that is the same in every row."""
    if value is None:
        return _NULL_FIELD
    pieces = encode_field(pa.array([value], arrow_type))
    out = b""
    for piece in pieces:
        scalar = piece if isinstance(piece, pa.Scalar) else piece[0]
        out += scalar.as_py()
    return out


def encode_rows(pieces: list[Piece], num_rows: int) -> pa.Buffer:
    """Concatenate per-row pieces (arrays or constant byte scalars) into COPY row bytes."""
    if num_rows == 0:
        return pa.py_buffer(b"")
    merged: list[Piece] = []
    for piece in pieces:
        # Adjacent constants fold into one, so the kernel joins fewer inputs.
        if merged and isinstance(piece, pa.Scalar) and isinstance(merged[-1], pa.Scalar):
            merged[-1] = pa.scalar(merged[-1].as_py() + piece.as_py(), pa.binary())
        else:
            merged.append(piece)
    if all(isinstance(piece, pa.Scalar) for piece in merged):
        return pa.py_buffer(b"".join(p.as_py() for p in merged) * num_rows)
    rows = pc.binary_join_element_wise(*merged, pa.scalar(b"", pa.binary()))
    offsets_buffer, data = rows.buffers()[1], rows.buffers()[2]
    offsets = np.frombuffer(offsets_buffer, np.int32, len(rows) + 1, rows.offset * 4)
    return data.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def field_count(n: int) -> bytes:
    return struct.pack("!h", n)
