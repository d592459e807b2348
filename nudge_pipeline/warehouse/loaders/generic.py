"""Batched INSERT through SQLAlchemy Core: the fallback for any other dialect (SQLite tested)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, column, table

from nudge_pipeline.warehouse.loaders.base import Loader
from nudge_pipeline.warehouse.tables import SCHEMA, TableSpec

_ROWS_PER_EXECUTE = 5_000


class GenericInsertLoader(Loader):
    def insert_batches(
        self,
        conn: Connection,
        spec: TableSpec,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        constants: Mapping[str, Any],
    ) -> int:
        target = table(spec.name, *(column(name) for name in spec.column_names), schema=SCHEMA)
        statement = target.insert()
        inserted = 0
        for batch in batches:
            for start in range(0, batch.num_rows, _ROWS_PER_EXECUTE):
                rows = batch.slice(start, _ROWS_PER_EXECUTE).to_pylist()
                for row in rows:
                    row.update(constants)
                conn.execute(statement, rows)
                inserted += len(rows)
        return inserted
