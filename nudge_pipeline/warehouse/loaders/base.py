"""The loader interface: put Arrow batches or lake Parquet files into a table.

Loaders run inside the caller's transaction and never commit; the Warehouse owns the
transaction, the delete before the insert, and the checks after it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from sqlalchemy import Connection

from nudge_pipeline.warehouse.errors import LoadMismatchError
from nudge_pipeline.warehouse.tables import MESSAGES, TableSpec

# Message columns that come from the Parquet files; the others are constants per load.
MESSAGE_FILE_COLUMNS = ("file_num", "row_num", "customer_id", "message", "extra", "export_job_id")
MESSAGE_FILE_SCHEMA = pa.schema([(n, dict(MESSAGES.columns)[n]) for n in MESSAGE_FILE_COLUMNS])

_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class MessageFileLoad:
    """One lake Parquet file of a campaign run, plus what message_files records about it.

    `lake_path` is where the file is read from: a local path, a URI pyarrow can open
    (s3://...), or a path inside the `filesystem` handed to Warehouse.replace_messages.
    message_files records `lake_relpath` (the path below the lake root) when given, else
    `lake_path` as given. `csv_byte_count` and `sha256` are of the export CSV as
    downloaded; `byte_count` is its older name, used when `csv_byte_count` is None.
    `parquet_byte_count` is the size of the Parquet file; `fetched_at` when the export
    file was downloaded.
    """

    file_num: int
    lake_path: str
    row_count: int
    byte_count: int | None = None
    sha256: str | None = None
    export_job_id: str | None = None
    fetched_at: datetime | None = None
    lake_relpath: str | None = None
    csv_byte_count: int | None = None
    parquet_byte_count: int | None = None

    @property
    def csv_bytes(self) -> int | None:
        return self.byte_count if self.csv_byte_count is None else self.csv_byte_count


class Loader(ABC):
    @abstractmethod
    def insert_batches(
        self,
        conn: Connection,
        spec: TableSpec,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        constants: Mapping[str, Any],
    ) -> int:
        """Insert rows: `batches` (of `schema`) give some columns, `constants` the rest."""

    def insert_message_files(
        self,
        conn: Connection,
        files: Sequence[MessageFileLoad],
        constants: Mapping[str, Any],
        filesystem: pafs.FileSystem | None,
    ) -> dict[int, int]:
        """Insert the messages of `files`; return rows inserted per file_num."""
        counts: dict[int, int] = {}
        batches = iter_message_batches(files, filesystem, counts)
        self.insert_batches(conn, MESSAGES, MESSAGE_FILE_SCHEMA, batches, constants)
        return counts


@contextmanager
def open_parquet(path: str, filesystem: pafs.FileSystem | None) -> Iterator[pq.ParquetFile]:
    if filesystem is None and "://" in path:
        filesystem, path = pafs.FileSystem.from_uri(path)
    if filesystem is None:
        filesystem = pafs.LocalFileSystem()
    with filesystem.open_input_file(path) as source:
        yield pq.ParquetFile(source)


def iter_message_batches(
    files: Sequence[MessageFileLoad],
    filesystem: pafs.FileSystem | None,
    counts: dict[int, int],
) -> Iterator[pa.RecordBatch]:
    """Stream the message columns of each file, counting rows into `counts` as they pass."""
    for load in files:
        counts.setdefault(load.file_num, 0)
        last_row_num = None
        with open_parquet(load.lake_path, filesystem) as parquet:
            for batch in parquet.iter_batches(_BATCH_ROWS, columns=list(MESSAGE_FILE_COLUMNS)):
                batch = _conform_batch(batch)
                last_row_num = check_file_keys(batch, last_row_num, load)
                counts[load.file_num] += batch.num_rows
                yield batch


def _conform_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    if batch.schema.equals(MESSAGE_FILE_SCHEMA):
        return batch
    arrays = [
        batch.column(name).cast(field.type)
        for name, field in zip(MESSAGE_FILE_COLUMNS, MESSAGE_FILE_SCHEMA, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=MESSAGE_FILE_SCHEMA)


def check_file_keys(
    keys: pa.RecordBatch | pa.Table, after: int | None, load: MessageFileLoad
) -> int | None:
    """Rows of `load`'s file, in order: each holds the file's own file_num, and row_num
    rises strictly (from above `after`, the last row_num before them). Returns the last.

    This proves the key unique without an index (DuckDB keeps none on messages, sql/003);
    the per-file_num counts after an insert could not even tell two swapped files apart.
    """
    if keys.num_rows == 0:
        return after
    file_nums = pc.min_max(keys.column("file_num"))
    if (file_nums["min"].as_py(), file_nums["max"].as_py()) != (load.file_num, load.file_num):
        raise LoadMismatchError(
            f"file {load.file_num} ({load.lake_path}) holds rows of another file_num"
        )
    row_nums = keys.column("row_num")
    rising = len(row_nums) < 2 or pc.all(pc.less(row_nums[:-1], row_nums[1:])).as_py()
    if not rising or (after is not None and row_nums[0].as_py() <= after):
        raise LoadMismatchError(
            f"file {load.file_num} ({load.lake_path}) repeats or reorders row_num"
        )
    return int(row_nums[-1].as_py())
