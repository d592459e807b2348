"""arrow_rows: tables and scalars from Python values, typed by an explicit schema."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from nudge_pipeline.arrow_rows import scalar, table_from_rows

SCHEMA = pa.schema(
    [
        ("text", pa.string()),
        ("small", pa.int32()),
        ("big", pa.int64()),
        ("flag", pa.bool_()),
        ("at", pa.timestamp("us", tz="UTC")),
    ]
)


def test_values_keep_their_types_and_missing_fields_are_null() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    rows = [
        {"text": 'é "quoted"\nline ✓', "small": -3, "big": 2**40, "flag": True, "at": moment},
        {"text": None, "unknown": "ignored"},
        # An offset other than UTC is the same instant.
        {"at": moment.astimezone(timezone(timedelta(hours=5, minutes=30)))},
    ]
    table = table_from_rows(rows, SCHEMA)
    assert table.schema == SCHEMA
    assert table.to_pylist() == [
        {"text": 'é "quoted"\nline ✓', "small": -3, "big": 2**40, "flag": True, "at": moment},
        {"text": None, "small": None, "big": None, "flag": None, "at": None},
        {"text": None, "small": None, "big": None, "flag": None, "at": moment},
    ]


def test_no_rows_give_an_empty_table_of_the_schema() -> None:
    table = table_from_rows([], SCHEMA)
    assert table.num_rows == 0 and table.schema == SCHEMA


def test_a_row_larger_than_the_json_readers_default_block_is_read() -> None:
    text = "x" * (3 * 2**20)
    assert table_from_rows([{"text": text}, {"text": "y"}], SCHEMA).column("text").to_pylist() == [
        text,
        "y",
    ]


def test_a_value_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(pa.ArrowInvalid):
        table_from_rows([{"small": "not a number"}], SCHEMA)


def test_dates_are_read_from_their_iso_text() -> None:
    schema = pa.schema([("day", pa.date32())])
    table = table_from_rows([{"day": date(2026, 2, 28)}, {"day": None}], schema)
    assert table.schema == schema
    assert table.column("day").to_pylist() == [date(2026, 2, 28), None]


def test_scalar() -> None:
    assert scalar("a", pa.string()).as_py() == "a"
    assert scalar(7, pa.int64()).as_py() == 7
    assert scalar(None, pa.int32()).as_py() is None
    assert scalar(date(2026, 1, 1), pa.date32()).as_py() == date(2026, 1, 1)
