"""One campaign run's export files: download into the lake, reuse, discard, load."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from nudge_pipeline.lake import (
    ROW_BLOCK_SIZES,
    Lake,
    MessageFileStats,
    RowTooLargeError,
    existing_message_file,
    list_message_files,
    message_dir,
    prune_message_files,
    write_message_file,
)
from nudge_pipeline.landing.record import LandedFile, RunRecord
from nudge_pipeline.nudgescribe.client import NudgescribeClient
from nudge_pipeline.warehouse import MessageFileLoad, RunLoad, RunStatus, Warehouse


def download_file(
    client: NudgescribeClient,
    lake: Lake,
    record: RunRecord,
    file_num: int,
    export_type: str,
) -> tuple[MessageFileStats, LandedFile]:
    """Stream one export file into its Parquet file; what landed, and when."""
    job_id = record.job_id or ""
    # Rare files hold a row longer than the usual read block: fetched again with a larger one.
    for attempt, block_size in enumerate(ROW_BLOCK_SIZES):

        def consume(stream: Any, block_size: int = block_size) -> MessageFileStats:
            return write_message_file(
                lake, record.campaign_id, record.run_id, file_num, stream, job_id, block_size
            )

        try:
            stats = client.download_export_file(
                record.campaign_id,
                record.run_id,
                file_num,
                consume=consume,
                export_type=export_type,
            )
        except RowTooLargeError:
            if attempt == len(ROW_BLOCK_SIZES) - 1:
                raise
            continue
        landed = LandedFile(
            row_count=stats.row_count,
            sha256=stats.sha256,
            byte_count=stats.byte_count,
            fetched_at=datetime.now(UTC).isoformat(),
        )
        return stats, landed
    raise AssertionError("unreachable")  # the loop returns or raises


def plan_files(lake: Lake, record: RunRecord) -> tuple[dict[int, LandedFile], list[int]]:
    """Files of this export already in the lake (as recorded), and the file_nums to fetch.

    Only the claim's holder writes a run's files, so a temporary file there is a killed
    writer's leftover, and parts past num_files are an earlier, larger export's.
    """
    assert record.num_files is not None
    lake.sweep_orphans(older_than_seconds=0, under=message_dir(record.campaign_id, record.run_id))
    prune_message_files(lake, record.campaign_id, record.run_id, record.num_files)
    landed: dict[int, LandedFile] = {}
    todo: list[int] = []
    for file_num in range(record.num_files):
        recorded = record.files.get(file_num)
        stats = existing_message_file(lake, record.campaign_id, record.run_id, file_num)
        if (
            recorded is not None
            and stats is not None
            and stats.export_job_id == (record.job_id or "")
            and (stats.row_count, stats.sha256) == (recorded.row_count, recorded.sha256)
        ):
            landed[file_num] = recorded
        else:
            todo.append(file_num)
    return landed, todo


def discard_files(lake: Lake, record: RunRecord) -> None:
    """A run lands whole or not at all: a failed attempt's files of this export go.

    Files of an earlier export (a run landed before) stay.
    """
    for file_num, rel in list_message_files(lake, record.campaign_id, record.run_id):
        stats = existing_message_file(lake, record.campaign_id, record.run_id, file_num)
        if stats is None or stats.export_job_id == (record.job_id or ""):
            lake.delete(rel)


def file_loads(lake: Lake, record: RunRecord) -> tuple[list[MessageFileLoad], int]:
    """What replace_messages needs for each file, and the rows the Parquet footers hold."""
    assert record.num_files is not None
    loads: list[MessageFileLoad] = []
    parquet_rows = 0
    for file_num in range(record.num_files):
        stats = existing_message_file(lake, record.campaign_id, record.run_id, file_num)
        if stats is None:
            raise FileNotFoundError(
                f"campaign {record.campaign_id} run {record.run_id}: "
                f"export file {file_num} is not in the lake"
            )
        parquet_rows += lake.parquet_file(stats.lake_path).metadata.num_rows
        parquet = lake.fs.get_file_info(lake.fs_path(stats.lake_path))
        landed = record.files.get(file_num)
        # Records written before download times were kept: the Parquet file's own time.
        fetched_at = (
            datetime.fromisoformat(landed.fetched_at)
            if landed and landed.fetched_at
            else parquet.mtime
        )
        loads.append(
            MessageFileLoad(
                file_num=file_num,
                # Local lakes are loaded by path; object stores through the lake's filesystem.
                lake_path=stats.uri if lake.is_local else lake.fs_path(stats.lake_path),
                row_count=stats.row_count,
                byte_count=stats.byte_count,
                sha256=stats.sha256,
                export_job_id=stats.export_job_id,
                fetched_at=fetched_at,
                lake_relpath=stats.lake_path,
                csv_byte_count=stats.byte_count,
                parquet_byte_count=parquet.size,
            )
        )
    return loads, parquet_rows


def load_runs(
    warehouse: Warehouse, lake: Lake, records: Sequence[RunRecord]
) -> Mapping[tuple[str, str], tuple[int, int, float] | BaseException]:
    """Replace each run's rows: (table rows, Parquet rows, seconds) per run, or its error.

    All in one transaction first, with the statements common to the runs made once: per
    run, a commit and those statements dominated landing many small runs. If any fails,
    each run is loaded again in its own transaction, so one bad run holds back no other.
    The seconds are each run's share of its transaction.
    """
    filesystem = None if lake.is_local else lake.fs

    def load(batch: Sequence[RunRecord]) -> dict[tuple[str, str], tuple[int, int, float]]:
        started = time.perf_counter()
        prepared = [(record, *file_loads(lake, record)) for record in batch]
        rows = warehouse.replace_runs(
            [RunLoad(r.campaign_id, r.run_id, loads) for r, loads, _ in prepared],
            filesystem=filesystem,
            lake_root=lake.root,
        )
        # Committed with the rows, so the status never says more than the table holds.
        warehouse.record_run_statuses(
            [RunStatus(r.campaign_id, r.run_id, "loaded", export_job_id=r.job_id) for r in batch]
        )
        share = (time.perf_counter() - started) / len(batch)
        return {
            (r.campaign_id, r.run_id): (rows[(r.campaign_id, r.run_id)], parquet_rows, share)
            for r, _, parquet_rows in prepared
        }

    if len(records) > 1:
        with contextlib.suppress(Exception), warehouse.transaction():
            return load(records)
    outcomes: dict[tuple[str, str], tuple[int, int, float] | BaseException] = {}
    with warehouse.session():
        for record in records:
            key = (record.campaign_id, record.run_id)
            try:
                with warehouse.transaction():
                    outcomes[key] = load([record])[key]
            except Exception as exc:
                outcomes[key] = exc
    return outcomes
