"""Export CSV files → one Parquet file each, under ``messages/<campaign>/<run>/``.

Files of the legacy layout (``messages/campaign_id=…/run_id=…/``) hold
the same columns: they are found, reused, listed and pruned as well, and a file landed
again replaces its legacy copy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nudge_pipeline import crashpoints
from nudge_pipeline.arrow_rows import scalar

from .csv_stream import BLOCK_SIZE, CsvContentError, HashingReader, Readable, open_csv_batches
from .errors import LakeInputError, RowTooLargeError
from .paths import (
    legacy_message_dir,
    legacy_message_file_path,
    message_dir,
    message_file_path,
    message_part_num,
)
from .store import Lake

log = logging.getLogger(__name__)

MESSAGE_SCHEMA = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("file_num", pa.int32(), nullable=False),
        pa.field("row_num", pa.int64(), nullable=False),
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
        pa.field("extra", pa.string(), nullable=True),
        pa.field("export_job_id", pa.string(), nullable=False),
    ]
)
REQUIRED_COLUMNS = ("customer_id", "message")

# Big enough for readers to scan well, small enough to keep peak memory low: the pending
# row group is held in memory.
ROW_GROUP_ROWS = 64 * 1024
ROW_GROUP_BYTES = 32 * 1024 * 1024
# Min/max of long texts are useless and slow to write.
_STATISTICS_COLUMNS = ["campaign_id", "run_id", "file_num", "row_num", "customer_id"]
# One value per file: a dictionary page and run lengths, where plain encoding repeats the id
# on every row (DuckDB's insert of 1M rows: 0.57 s instead of 0.63 s). Not the free text.
_DICTIONARY_COLUMNS = ["campaign_id", "run_id", "file_num", "export_job_id"]

_CONTENT_ERRORS = (CsvContentError, pa.ArrowInvalid, UnicodeDecodeError)

_META = "nudge_pipeline."
META_FORMAT_VERSION = "1"


@dataclass(frozen=True)
class MessageFileStats:
    """What landed for one export file. ``byte_count``/``sha256`` are of the CSV bytes."""

    row_count: int
    byte_count: int
    sha256: str
    lake_path: str  # relative to the lake root
    columns: tuple[str, ...]  # the CSV header, in order
    campaign_id: str
    run_id: str
    file_num: int
    export_job_id: str
    uri: str  # absolute local path or s3://bucket/key


def write_message_file(
    lake: Lake,
    campaign_id: str,
    run_id: str,
    file_num: int,
    stream: Readable,
    export_job_id: str,
    block_size: int = BLOCK_SIZE,
) -> MessageFileStats:
    """Stream one export CSV (any object with ``read(n)``) into its Parquet file.

    Atomic: on any error nothing appears under the final name and an earlier file there
    is left as it was. Content errors raise LakeInputError; errors raised by ``stream``
    itself propagate unchanged, so a caller can retry with a fresh stream. A row longer
    than ``block_size`` raises RowTooLargeError: retry with a larger one (ROW_BLOCK_SIZES).
    """
    rel = message_file_path(campaign_id, run_id, file_num)
    reader = HashingReader(stream)
    try:
        with lake.atomic_output(rel, batched=True) as sink:
            columns, row_count = _convert(
                reader, sink, campaign_id, run_id, file_num, export_job_id, block_size
            )
    except BaseException as exc:
        source_error = reader.source_error
        if source_error is not None and exc is not source_error:
            # pyarrow may wrap the stream's own failure; hand the original back.
            raise source_error from exc
        if source_error is None and "straddling object" in str(exc):
            raise RowTooLargeError(campaign_id, run_id, file_num, block_size) from None
        if source_error is None and isinstance(exc, _CONTENT_ERRORS):
            raise LakeInputError(campaign_id, run_id, file_num, _reason(exc)) from None
        raise
    finally:
        reader.shut()
    # A legacy copy of the file is superseded; left there, it would keep readers from
    # reading the dataset (see paths).
    lake.delete(legacy_message_file_path(campaign_id, run_id, file_num))
    return MessageFileStats(
        row_count=row_count,
        byte_count=reader.byte_count,
        sha256=reader.hexdigest(),
        lake_path=rel,
        columns=columns,
        campaign_id=campaign_id,
        run_id=run_id,
        file_num=file_num,
        export_job_id=export_job_id,
        uri=lake.uri(rel),
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    # pyarrow echoes the offending row; keep the error short and free of message text.
    if "Expected" in text and "columns, got" in text:
        text = text.split(":", 2)[1].strip() if text.count(":") >= 2 else text
        return f"ragged row: {text}"
    if "invalid UTF8" in text:
        return "invalid UTF-8 in a value"
    return text[:300]


def _check_header(columns: tuple[str, ...]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise CsvContentError(f"missing column(s) {', '.join(missing)}; header is {columns!r}")
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise CsvContentError(f"duplicated column(s) {', '.join(duplicated)}")


def _convert(
    reader: HashingReader,
    sink: pa.NativeFile,
    campaign_id: str,
    run_id: str,
    file_num: int,
    export_job_id: str,
    block_size: int,
) -> tuple[tuple[str, ...], int]:
    csv = open_csv_batches(reader, block_size)
    columns = csv.columns
    _check_header(columns)
    customer_idx = columns.index("customer_id")
    message_idx = columns.index("message")
    extra_idx = [i for i in range(len(columns)) if i not in (customer_idx, message_idx)]
    extra_names = [columns[i] for i in extra_idx]

    campaign = scalar(campaign_id, pa.string())
    run = scalar(run_id, pa.string())
    file = scalar(file_num, pa.int32())
    job = scalar(export_job_id, pa.string())
    writer = pq.ParquetWriter(
        sink,
        MESSAGE_SCHEMA,
        compression="zstd",
        use_dictionary=_DICTIONARY_COLUMNS,
        write_statistics=_STATISTICS_COLUMNS,
    )
    pending: list[pa.RecordBatch] = []
    pending_rows = pending_bytes = 0
    row_count = 0
    try:
        for batch in csv.batches:
            n = batch.num_rows
            if n == 0:
                continue
            extra = _extra_json(batch, extra_idx, extra_names)
            out = pa.RecordBatch.from_arrays(
                [
                    pa.repeat(campaign, n),
                    pa.repeat(run, n),
                    pa.repeat(file, n),
                    _int64s(np.arange(row_count + 1, row_count + n + 1, dtype=np.int64)),
                    batch.column(customer_idx),
                    batch.column(message_idx),
                    extra,
                    pa.repeat(job, n),
                ],
                schema=MESSAGE_SCHEMA,
            )
            row_count += n
            pending.append(out)
            pending_rows += n
            pending_bytes += out.nbytes
            if pending_rows >= ROW_GROUP_ROWS or pending_bytes >= ROW_GROUP_BYTES:
                _flush(writer, pending)
                pending_rows = pending_bytes = 0
        reader.drain()
        if reader.quotes % 2:
            # pyarrow takes an unclosed quote as a value running to the end of the file.
            raise CsvContentError("the file ends inside a quoted value (a quote never closes)")
        _flush(writer, pending)
        writer.add_key_value_metadata(
            _file_metadata(campaign_id, run_id, file_num, export_job_id, columns, row_count, reader)
        )
    finally:
        writer.close()
    return columns, row_count


# Built from a buffer: pa.array of Python values would make pyarrow import pandas.
def _int64s(values: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _flush(writer: pq.ParquetWriter, pending: list[pa.RecordBatch]) -> None:
    if pending:
        # ParquetWriter starts a new row group on every call: make each call one group.
        table = pa.Table.from_batches(pending)
        writer.write_table(table, row_group_size=max(table.num_rows, 1))
        pending.clear()
        crashpoints.reached(crashpoints.MID_PARQUET_WRITE)


def _extra_json(batch: pa.RecordBatch, extra_idx: Sequence[int], names: Sequence[str]) -> pa.Array:
    """Each row's extra columns as a JSON object, built column-wise in Arrow.

    The text is what `json.dumps(dict(...), ensure_ascii=False)` writes, without a Python
    object per value: that loop held the GIL for most of a small run's landing.
    """
    if not extra_idx:
        return pa.nulls(batch.num_rows, pa.string())
    pieces: list[Any] = []
    for position, (index, name) in enumerate(zip(extra_idx, names, strict=True)):
        opening = "{" if position == 0 else ", "
        pieces.append(_text(f"{opening}{json.dumps(name, ensure_ascii=False)}: "))
        pieces.append(_json_strings(batch.column(index).cast(pa.string())))
    pieces.append(_text("}"))
    return pc.binary_join_element_wise(*pieces, _text(""))


_JSON_ESCAPES = (
    ("\\", "\\\\"),  # first, so the backslashes of the other escapes stay single
    ('"', '\\"'),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
    ("\b", "\\b"),
    ("\f", "\\f"),
)
_OTHER_CONTROLS = [chr(c) for c in range(0x20) if chr(c) not in "\n\r\t\b\f"]


def _json_strings(values: pa.Array) -> pa.Array:
    """JSON string literals of `values` (null stays JSON null)."""
    if pc.any(pc.match_substring_regex(values, r'[\\"\x00-\x1f]')).as_py():
        for raw, escaped in _JSON_ESCAPES:
            values = pc.replace_substring(values, raw, escaped)
        if pc.any(pc.match_substring_regex(values, r"[\x00-\x1f]")).as_py():
            for char in _OTHER_CONTROLS:
                values = pc.replace_substring(values, char, f"\\u{ord(char):04x}")
    quote, nothing = _text('"'), _text("")
    return pc.fill_null(pc.binary_join_element_wise(quote, values, quote, nothing), _text("null"))


def _text(value: str) -> pa.Scalar:
    # An Arrow scalar, not a Python str: pyarrow imports pandas to convert one.
    return scalar(value, pa.string())


def _file_metadata(
    campaign_id: str,
    run_id: str,
    file_num: int,
    export_job_id: str,
    columns: tuple[str, ...],
    row_count: int,
    reader: HashingReader,
) -> dict[str, str]:
    return {
        _META + "format_version": META_FORMAT_VERSION,
        _META + "campaign_id": campaign_id,
        _META + "run_id": run_id,
        _META + "file_num": str(file_num),
        _META + "export_job_id": export_job_id,
        _META + "row_count": str(row_count),
        _META + "source_byte_count": str(reader.byte_count),
        _META + "source_sha256": reader.hexdigest(),
        _META + "csv_columns": json.dumps(list(columns), ensure_ascii=False),
    }


def existing_message_file(
    lake: Lake, campaign_id: str, run_id: str, file_num: int
) -> MessageFileStats | None:
    """Stats of an already landed export file, read from the Parquet footer only.

    None when absent, or when the file was not written by ``write_message_file``. A file
    of the legacy layout is found when the current path holds none.
    """
    stats = _footer_stats(lake, message_file_path(campaign_id, run_id, file_num))
    if stats is None:
        stats = _footer_stats(lake, legacy_message_file_path(campaign_id, run_id, file_num))
    return stats


def _footer_stats(lake: Lake, rel: str) -> MessageFileStats | None:
    try:
        footer = lake.parquet_file(rel).metadata
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowInvalid) as exc:
        log.warning("unreadable Parquet footer at %s: %s", lake.uri(rel), type(exc).__name__)
        return None
    meta = {k.decode(): v.decode() for k, v in (footer.metadata or {}).items()}
    try:
        stats = _stats_from_metadata(meta, rel, lake.uri(rel))
    except (KeyError, ValueError):
        return None
    if stats.row_count != footer.num_rows:
        return None
    return stats


def _stats_from_metadata(meta: dict[str, str], rel: str, uri: str) -> MessageFileStats:
    def get(key: str) -> str:
        return meta[_META + key]

    return MessageFileStats(
        row_count=int(get("row_count")),
        byte_count=int(get("source_byte_count")),
        sha256=get("source_sha256"),
        lake_path=rel,
        columns=tuple(json.loads(get("csv_columns"))),
        campaign_id=get("campaign_id"),
        run_id=get("run_id"),
        file_num=int(get("file_num")),
        export_job_id=get("export_job_id"),
        uri=uri,
    )


def list_message_files(lake: Lake, campaign_id: str, run_id: str) -> list[tuple[int, str]]:
    """Landed ``(file_num, lake_path)`` of a campaign run, by file_num.

    A legacy-layout file is listed only for a file_num the current folder lacks.
    """
    found: dict[int, str] = {}
    for folder in (legacy_message_dir(campaign_id, run_id), message_dir(campaign_id, run_id)):
        found.update(_parts(lake, folder))
    return sorted(found.items())


def _parts(lake: Lake, folder: str) -> dict[int, str]:
    found = {}
    for rel in lake.list_files(folder):
        num = message_part_num(rel.rsplit("/", 1)[1])
        if num is not None:
            found[num] = rel
    return found


def prune_message_files(lake: Lake, campaign_id: str, run_id: str, num_files: int) -> list[str]:
    """Delete parts numbered ``num_files`` or more (left by an earlier, larger export),
    in the current and the legacy folder."""
    removed = []
    for folder in (message_dir(campaign_id, run_id), legacy_message_dir(campaign_id, run_id)):
        for num, rel in sorted(_parts(lake, folder).items()):
            if num >= num_files and lake.delete(rel):
                removed.append(rel)
    return removed


def message_metadata(lake: Lake, rel: str) -> dict[str, Any]:
    """All ``nudge_pipeline.*`` footer metadata of a message file (for diagnostics)."""
    footer = lake.parquet_file(rel).metadata
    return {
        k.decode()[len(_META) :]: v.decode()
        for k, v in (footer.metadata or {}).items()
        if k.decode().startswith(_META)
    }
