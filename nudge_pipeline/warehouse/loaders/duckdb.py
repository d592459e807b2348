"""DuckDB: INSERT ... SELECT straight from the lake's Parquet files with read_parquet.

Files that are not on the local disk (object stores) are streamed through Arrow and
scanned by DuckDB from a registered record batch reader instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from sqlalchemy import Connection, text

from nudge_pipeline.warehouse.loaders.base import Loader, MessageFileLoad, check_file_keys
from nudge_pipeline.warehouse.tables import MESSAGES, TableSpec

_SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}


def _select_list(spec: TableSpec, constants: Mapping[str, Any]) -> str:
    # Identifiers come from TableSpec (code), values are bound as :name parameters.
    items = []
    for name, arrow_type in spec.columns:
        source = f":{name}" if name in constants else f'"{name}"'
        sql_type = "JSON" if name in spec.json_columns else _SQL_TYPES[arrow_type]
        items.append(f"CAST({source} AS {sql_type})")
    return ", ".join(items)


def _is_local(path: str, filesystem: pafs.FileSystem | None) -> bool:
    if filesystem is not None:
        return isinstance(filesystem, pafs.LocalFileSystem)
    return "://" not in path or path.startswith("file://")


def _file_keys(path: str) -> pa.Table:
    with pq.ParquetFile(path) as parquet:
        return parquet.read(columns=["file_num", "row_num"])


def _stream_errors(
    batches: Iterable[pa.RecordBatch], raised: list[Exception]
) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except Exception as exc:
        raised.append(exc)
        raise


class DuckDBLoader(Loader):
    def insert_batches(
        self,
        conn: Connection,
        spec: TableSpec,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        constants: Mapping[str, Any],
    ) -> int:
        # DuckDB reads the batches itself and reports an error raised while producing
        # them as its own; the original (a refused file, say) is raised instead.
        raised: list[Exception] = []
        reader = pa.RecordBatchReader.from_batches(schema, _stream_errors(batches, raised))
        view = f"arrow_input_{uuid.uuid4().hex}"
        duck = conn.connection.driver_connection
        assert duck is not None
        duck.register(view, reader)
        try:
            result = conn.execute(
                text(
                    f"INSERT INTO {spec.qualified_name} ({', '.join(spec.column_names)}) "
                    f"SELECT {_select_list(spec, constants)} FROM {view}"
                ),
                dict(constants),
            )
        except Exception:
            # The failed statement aborted the transaction; its rollback drops the view.
            if raised:
                raise raised[0] from None
            raise
        duck.unregister(view)
        return int(result.rowcount)

    def insert_message_files(
        self,
        conn: Connection,
        files: Sequence[MessageFileLoad],
        constants: Mapping[str, Any],
        filesystem: pafs.FileSystem | None,
    ) -> dict[int, int]:
        if not files:
            return {}
        if not all(_is_local(f.lake_path, filesystem) for f in files):
            return super().insert_message_files(conn, files, constants, filesystem)
        paths = [f.lake_path.removeprefix("file://") for f in files]
        for load, path in zip(files, paths, strict=True):
            check_file_keys(_file_keys(path), None, load)
        conn.execute(
            text(
                f"INSERT INTO {MESSAGES.qualified_name} ({', '.join(MESSAGES.column_names)}) "
                f"SELECT {_select_list(MESSAGES, constants)} "
                f"FROM read_parquet(:paths)"
            ),
            {**constants, "paths": paths},
        )
        # Count what landed per file_num inside the same transaction, so a file whose
        # rows carry an unexpected file_num shows up as a mismatch.
        rows = conn.execute(
            text(
                f"SELECT file_num, COUNT(*) FROM {MESSAGES.qualified_name} "
                "WHERE campaign_id = :campaign_id AND run_id = :run_id GROUP BY file_num"
            ),
            {"campaign_id": constants["campaign_id"], "run_id": constants["run_id"]},
        )
        return {int(file_num): int(count) for file_num, count in rows}
