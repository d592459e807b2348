"""Typed copies of profile values: value_number, value_boolean, value_date by field_type.

The text `value` is always kept. A value of a number, boolean or date field that does not
read as one stays only in `value` and is counted as uncastable. The rules are strict and
the same in SQL (sql/006_typed_profile_values.*.sql types the rows loaded before them):

- number: decimal text of at most 100 characters, optional sign, optional exponent of at
  most two digits (`-12.5`, `.5`, `3e10`); so every number fits a double, on any database.
- boolean: `true` or `false`, any case.
- date: `YYYY-MM-DD`, a real calendar day from year 1.

Spaces around a value are ignored. Other field types (string, enum, unknown) are text only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pyarrow as pa

from nudge_pipeline.arrow_rows import array_of
from nudge_pipeline.warehouse.arrow_input import conform
from nudge_pipeline.warehouse.errors import InputError
from nudge_pipeline.warehouse.tables import CUSTOMER_PROFILE_VALUES

_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,2})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_NUMBER_TEXT = 100
TYPED_FIELD_TYPES = ("number", "boolean", "date")


@dataclass(frozen=True)
class TypedValues:
    value_number: pa.ChunkedArray
    value_boolean: pa.ChunkedArray
    value_date: pa.ChunkedArray
    uncastable: int  # non-NULL values of a typed field that did not cast


def as_number(text: str) -> float | None:
    text = text.strip(" ")
    if len(text) > _MAX_NUMBER_TEXT or not _NUMBER.fullmatch(text):
        return None
    return float(text)


def as_boolean(text: str) -> bool | None:
    lowered = text.strip(" ").lower()
    return {"true": True, "false": False}.get(lowered)


def as_date(text: str) -> date | None:
    text = text.strip(" ")
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # no such day, or year 0
        return None


def type_values(
    values: pa.ChunkedArray | pa.Array, field_types: pa.ChunkedArray | pa.Array
) -> TypedValues:
    """Typed columns for text `values` whose fields have `field_types`."""
    numbers: list[float | None] = []
    booleans: list[bool | None] = []
    dates: list[date | None] = []
    uncastable = 0
    for value, field_type in zip(values.to_pylist(), field_types.to_pylist(), strict=True):
        number = boolean = day = None
        if value is not None:
            if field_type == "number":
                number = as_number(value)
            elif field_type == "boolean":
                boolean = as_boolean(value)
            elif field_type == "date":
                day = as_date(value)
            if field_type in TYPED_FIELD_TYPES and (number, boolean, day) == (None, None, None):
                uncastable += 1
        numbers.append(number)
        booleans.append(boolean)
        dates.append(day)
    return TypedValues(
        array_of(numbers, pa.float64()),
        array_of(booleans, pa.bool_()),
        array_of(dates, pa.date32()),
        uncastable,
    )


def profile_value_rows(
    profile_values: pa.Table, customers: pa.Table, group: Mapping[str, str]
) -> tuple[pa.Table, int]:
    """The rows of customer_profile_values for one group, and how many values did not cast.

    A value without a `workspace_id` gets its customer's, from the group's `customers`.
    """
    derived = {"value_number", "value_boolean", "value_date"} & set(profile_values.column_names)
    if derived:
        raise InputError(f"customer_profile_values: {sorted(derived)} are derived from value")
    values = profile_values
    if "workspace_id" not in values.column_names:
        workspaces = dict(
            zip(
                customers.column("customer_id").to_pylist(),
                customers.column("workspace_id").to_pylist(),
                strict=True,
            )
        )
        by_customer = [workspaces.get(c) for c in values.column("customer_id").to_pylist()]
        values = values.append_column("workspace_id", array_of(by_customer, pa.string()))
    missing = sorted({"value", "field_type"} - set(values.column_names))
    if missing:
        raise InputError(f"customer_profile_values: missing columns {missing}")
    typed = type_values(
        values.column("value").cast(pa.string()), values.column("field_type").cast(pa.string())
    )
    values = (
        values.append_column("value_number", typed.value_number)
        .append_column("value_boolean", typed.value_boolean)
        .append_column("value_date", typed.value_date)
    )
    defaults = {**group, "is_encrypted": None}
    return conform(values, CUSTOMER_PROFILE_VALUES, defaults), typed.uncastable
