"""Message Parquet files shaped like the lake's, written with plain pyarrow."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nudge_pipeline.warehouse import MessageFileLoad

MESSAGE_SCHEMA = pa.schema(
    [
        ("campaign_id", pa.string()),
        ("run_id", pa.string()),
        ("file_num", pa.int32()),
        ("row_num", pa.int64()),
        ("customer_id", pa.string()),
        ("message", pa.string()),
        ("extra", pa.string()),
        ("export_job_id", pa.string()),
    ]
)

# Every string a CSV export may carry that a careless loader would change.
QUIRK_MESSAGES = [
    "Hi 👋🏽 Zoë, ça va? 你好",
    "line one\nline two",
    "windows\r\nline break",
    "lone\rcarriage return",
    "she said \"hello\", then 'bye'",
    '""',
    "NA",
    "null",
    "None",
    "NULL",
    "",
    "   padded   ",
    "tab\there; semi; comma,",
    "back\\slash \\N \\.",
    "0",
    "\u200b zero-width and \u00a0 nbsp",
]
QUIRK_CUSTOMER_IDS = ["000123", "0", "007", "NA", "null", "", "00000000000000000001"]
QUIRK_EXTRAS = [None, '{"segment": "VIP", "score": "007"}', "{}", '{"note": "a\\nb \\"q\\""}']


def message_table(
    campaign_id: str,
    run_id: str,
    file_num: int,
    rows: int,
    *,
    text: str = "msg",
    customer_ids: Sequence[str] | None = None,
    messages: Sequence[str] | None = None,
    extras: Sequence[str | None] | None = None,
) -> pa.Table:
    customers = customer_ids or [f"{i:08d}" for i in range(rows)]
    bodies = messages or [f"{text} {file_num}-{i} for you" for i in range(rows)]
    extra = extras or [None] * rows
    return pa.table(
        {
            "campaign_id": [campaign_id] * rows,
            "run_id": [run_id] * rows,
            "file_num": pa.array([file_num] * rows, pa.int32()),
            "row_num": pa.array(range(1, rows + 1), pa.int64()),
            "customer_id": [customers[i % len(customers)] for i in range(rows)],
            "message": [bodies[i % len(bodies)] for i in range(rows)],
            "extra": pa.array([extra[i % len(extra)] for i in range(rows)], pa.string()),
            "export_job_id": ["job-1"] * rows,
        },
        schema=MESSAGE_SCHEMA,
    )


def write_message_files(
    directory: Path,
    campaign_id: str,
    run_id: str,
    *,
    files: int,
    rows_per_file: int,
    text: str = "msg",
) -> list[MessageFileLoad]:
    """Write `files` Parquet files for a run and describe them for replace_messages."""
    directory.mkdir(parents=True, exist_ok=True)
    loads = []
    for file_num in range(files):
        path = directory / f"{campaign_id}-{run_id}-{text}-part-{file_num}.parquet"
        table = message_table(campaign_id, run_id, file_num, rows_per_file, text=text)
        pq.write_table(table, path, compression="zstd")
        loads.append(load_for(path, file_num, rows_per_file))
    return loads


def load_for(path: Path, file_num: int, rows: int) -> MessageFileLoad:
    return MessageFileLoad(
        file_num=file_num,
        lake_path=str(path),
        row_count=rows,
        byte_count=path.stat().st_size,
        sha256="ab" * 32,
        export_job_id="job-1",
        fetched_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    )
