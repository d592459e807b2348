"""PostgreSQL: psycopg COPY ... FROM STDIN (FORMAT BINARY), streamed from Arrow batches.

Binary COPY measured faster than CSV COPY via pyarrow's CSV writer (1M messages: 2.6 s
against 3.5 s): the server skips text parsing, and the row bytes are built by Arrow
kernels (see warehouse/pgcopy.py). Constant columns are encoded once per load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection

from nudge_pipeline.warehouse import pgcopy
from nudge_pipeline.warehouse.loaders.base import Loader
from nudge_pipeline.warehouse.tables import TableSpec


def copy_statement(spec: TableSpec) -> str:
    # Identifiers come from TableSpec (code); the data travels in the COPY stream.
    return f"COPY {spec.qualified_name} ({', '.join(spec.column_names)}) FROM STDIN (FORMAT BINARY)"


def row_pieces_factory(spec: TableSpec, schema: pa.Schema, constants: Mapping[str, Any]) -> Any:
    """A function batch -> list of per-row pieces in table column order."""
    plan: list[tuple[str, Any]] = []
    header = pgcopy.field_count(len(spec.columns))
    pending = header
    for name, arrow_type in spec.columns:
        if name in constants:
            pending += pgcopy.encode_constant(constants[name], arrow_type)
            continue
        if pending:
            plan.append(("const", pa.scalar(pending, pa.binary())))
            pending = b""
        if name not in schema.names:
            raise ValueError(f"{spec.name}.{name} is neither a batch column nor a constant")
        jsonb = name in spec.json_columns
        plan.append(("column", (schema.get_field_index(name), arrow_type, jsonb)))
    if pending:
        plan.append(("const", pa.scalar(pending, pa.binary())))

    def pieces(batch: pa.RecordBatch) -> list[pgcopy.Piece]:
        out: list[pgcopy.Piece] = []
        for kind, item in plan:
            if kind == "const":
                out.append(item)
            else:
                index, arrow_type, jsonb = item
                array = batch.column(index)
                if array.type != arrow_type:
                    array = array.cast(arrow_type)
                out.extend(pgcopy.encode_field(array, jsonb=jsonb))
        return out

    return pieces


class PostgresCopyLoader(Loader):
    def insert_batches(
        self,
        conn: Connection,
        spec: TableSpec,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        constants: Mapping[str, Any],
    ) -> int:
        import psycopg  # here, not at import: DuckDB-only processes would carry it (22 MB)

        pieces = row_pieces_factory(spec, schema, constants)
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        inserted = 0
        with driver.cursor() as cursor, cursor.copy(copy_statement(spec)) as copy:
            copy.write(pgcopy.HEADER)
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                copy.write(pgcopy.encode_rows(pieces(batch), batch.num_rows))
                inserted += batch.num_rows
            copy.write(pgcopy.TRAILER)
        return inserted
