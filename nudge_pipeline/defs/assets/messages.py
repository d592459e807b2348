"""Per campaign run: message_export (publish → poll), message_files (fetch → Parquet), messages.

Every asset handles all partition keys of its run (backfills run several partitions per run).
State passes between the steps through the lake: the export state store holds the job and
its files, the Parquet footers hold what each file landed.

A failing partition does not stop the others, unless the cause rules out all of them (quota,
credentials, unreachable API). The step then fails, naming each failed partition and its
cause in the failure metadata, which `sync` reads.
"""

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from nudge_pipeline import crashpoints
from nudge_pipeline.defs import progress
from nudge_pipeline.defs.assets.common import API_POOL, BACKFILL_POLICY, add_partition_metadata
from nudge_pipeline.defs.assets.snapshots import campaign_runs
from nudge_pipeline.defs.discovery import discover_runs
from nudge_pipeline.defs.failures import GLOBAL_CAUSES, cause_of, describe
from nudge_pipeline.defs.partitions import campaign_runs_partitions, parse_campaign_run_key
from nudge_pipeline.defs.resources import LakeResource, NudgescribeResource, WarehouseResource
from nudge_pipeline.lake import (
    MESSAGE_SCHEMA,
    ROW_BLOCK_SIZES,
    ExportStateStore,
    Lake,
    MessageFileStats,
    RowTooLargeError,
    existing_message_file,
    list_message_files,
    message_dir,
    prune_message_files,
    write_message_file,
)
from nudge_pipeline.nudgescribe.errors import NudgescribeError
from nudge_pipeline.nudgescribe.export import ExportJob
from nudge_pipeline.warehouse import MessageFileLoad

GROUP = "messages"
COMPLETED = "completed"
FAILURES_KEY = "failed_partitions"

CHECK_ROWS_MATCH = "rows_match_across_csv_parquet_table"
CHECK_FILES_LANDED = "all_export_files_landed"
CHECK_NO_DUPLICATES = "no_duplicate_file_row_keys"
CHECK_KNOWN_CUSTOMERS = "customers_are_known"


class PartitionFailures:
    """Failures per partition key; knows when continuing is pointless."""

    def __init__(self, context: dg.AssetExecutionContext) -> None:
        self.context = context
        self.by_key: dict[str, dict[str, str]] = {}
        self.stop = False
        self._lock = threading.Lock()

    def record(self, key: str, exc: BaseException, subject: str = "") -> None:
        """`subject` names the part of the partition at fault (e.g. "export file 3")."""
        cause = cause_of(exc)
        message = describe(exc)
        if subject and subject not in message:
            message = f"{subject}: {message}"
        with self._lock:
            self.by_key.setdefault(key, {"cause": cause, "message": message})
        self.context.log.error(f"{key}: {cause}: {message}")
        progress.emit("partition_failed", asset=self.context.asset_key.to_user_string(), key=key)
        if cause in GLOBAL_CAUSES:
            self.stop = True

    def raise_if_any(self) -> None:
        if not self.by_key:
            return
        lines = [f"{k}: {v['cause']}: {v['message']}" for k, v in self.by_key.items()]
        raise dg.Failure(
            description=f"{len(self.by_key)} partition(s) failed:\n" + "\n".join(lines),
            metadata={FAILURES_KEY: dg.MetadataValue.json(self.by_key)},
            allow_retries=False,
        )


def completed_export(
    store: ExportStateStore, campaign_id: str, run_id: str
) -> dict[str, Any] | None:
    state = store.get(campaign_id, run_id)
    if state and state.get("status") == COMPLETED and state.get("num_files") is not None:
        return state
    return None


def _skip_metadata(reason: str) -> dict[str, Any]:
    return {"skipped": True, "skipped_reason": reason, "dagster/row_count": 0}


# ---------------------------------------------------------------------------- export


@dg.asset(
    group_name=GROUP,
    partitions_def=campaign_runs_partitions,
    backfill_policy=BACKFILL_POLICY,
    pool=API_POOL,
    deps=[campaign_runs],
    kinds={"api"},
)
def message_export(
    context: dg.AssetExecutionContext, nudgescribe: NudgescribeResource, lake: LakeResource
) -> dg.MaterializeResult:
    """Publishes an eligible campaign run and polls until its CSV export is complete.

    Only completed runs of campaigns at a stage listed in NUDGE_PUBLISH_STAGES (default
    "Published") are published: publishing a "Ready to Publish" campaign sends it to its
    customers. A run whose export completed before is reused, never published again.
    """
    store = ExportStateStore(lake.lake())
    failures = PartitionFailures(context)
    allowed = nudgescribe.allowed_stages()
    keys = list(context.partition_keys)
    with nudgescribe.client() as client:
        try:
            campaign_ids = {parse_campaign_run_key(k)[0] for k in keys}
            campaigns = [c for c in client.list_campaigns() if c.campaign_id in campaign_ids]
            unreadable: dict[str, NudgescribeError] = {}
            known = {
                r.partition_key: r for r in discover_runs(client, campaigns, allowed, unreadable)
            }
            listed = {c.campaign_id for c in campaigns}
        except Exception as exc:
            for key in keys:
                failures.record(key, exc)
            failures.raise_if_any()

        # Exports of different runs proceed side by side; each polls with its own backoff.
        def export(key: str) -> None:
            if failures.stop:
                failures.by_key.setdefault(key, {"cause": "not attempted", "message": ""})
                return
            campaign_id = parse_campaign_run_key(key)[0]
            if campaign_id in unreadable:
                failures.record(key, unreadable[campaign_id], f"campaign {campaign_id}")
                return
            gone = None if campaign_id in listed else f"campaign {campaign_id} no longer exists"
            try:
                metadata = _export_one(
                    context, client, store, key, known.get(key), nudgescribe, gone
                )
                add_partition_metadata(context, key, metadata)
            except Exception as exc:
                failures.record(key, exc)

        workers = max(1, min(nudgescribe.parallel_downloads, len(keys)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export") as pool:
            list(pool.map(export, keys))
    failures.raise_if_any()
    return dg.MaterializeResult()


def _export_one(
    context: dg.AssetExecutionContext,
    client: Any,
    store: ExportStateStore,
    key: str,
    discovered: Any,
    nudgescribe: NudgescribeResource,
    gone: str | None = None,
) -> dict[str, Any]:
    campaign_id, run_id = parse_campaign_run_key(key)
    if discovered is None:
        reason = gone or f"run {run_id} is no longer listed in the campaign's run history"
        context.log.warning(f"{key}: not published: {reason}")
        return _skip_metadata(reason)
    if not discovered.eligibility.eligible:
        context.log.warning(f"{key}: not published: {discovered.eligibility.reason}")
        return _skip_metadata(discovered.eligibility.reason)
    state = completed_export(store, campaign_id, run_id)
    if state is not None:
        context.log.info(f"{key}: reusing completed export {state.get('job_id')}")
        reused = True
        job_id, num_files = state.get("job_id"), int(state["num_files"])
    else:
        previous = store.get(campaign_id, run_id) or {}

        def remember(job_id: str) -> None:
            # Durable before polling: a crash from here on resumes this job, never re-publishes.
            store.put(campaign_id, run_id, {"job_id": job_id, "status": "processing"})

        job = ExportJob(
            client,
            campaign_id,
            run_id,
            known_job_id=previous.get("job_id"),
            on_job_id=remember,
            settle_seconds=nudgescribe.settle_seconds,
        )
        result = job.run()
        reused = False
        job_id, num_files = result.job_id, result.num_files
        store.put(
            campaign_id,
            run_id,
            {
                "job_id": job_id,
                "num_files": num_files,
                "status": COMPLETED,
                "completed_at": datetime.now(UTC).isoformat(),
            },
        )
    progress.emit("export_ready", key=key, num_files=num_files, reused=reused)
    return {
        "skipped": False,
        "job_id": job_id or "",
        "num_files": num_files,
        "reused_export": reused,
        "dagster/row_count": discovered.run.message_count or 0,
    }


# ----------------------------------------------------------------------------- files


@dataclass
class _RunFiles:
    key: str
    campaign_id: str
    run_id: str
    job_id: str
    num_files: int
    landed: dict[int, MessageFileStats]
    downloaded: int = 0
    export_type: str = "utf8"


def _land_file(client: Any, lake: Lake, run: _RunFiles, file_num: int) -> MessageFileStats:
    # Rare files hold a row longer than the usual read block: fetched again with a larger one.
    block_sizes = list(ROW_BLOCK_SIZES)
    while True:
        block_size = block_sizes.pop(0)

        def consume(stream: Any, block_size: int = block_size) -> MessageFileStats:
            return write_message_file(
                lake, run.campaign_id, run.run_id, file_num, stream, run.job_id, block_size
            )

        try:
            return client.download_export_file(
                run.campaign_id, run.run_id, file_num, consume=consume, export_type=run.export_type
            )
        except RowTooLargeError:
            if not block_sizes:
                raise


def _already_landed(
    lake: Lake, run: _RunFiles, file_num: int, recorded: dict[str, Any]
) -> MessageFileStats | None:
    stats = existing_message_file(lake, run.campaign_id, run.run_id, file_num)
    if stats is None or stats.export_job_id != run.job_id:
        return None
    if recorded.get("row_count") != stats.row_count or recorded.get("sha256") != stats.sha256:
        return None
    return stats


def _files_state(stats: dict[int, MessageFileStats]) -> dict[str, Any]:
    return {
        str(n): {"row_count": s.row_count, "sha256": s.sha256, "byte_count": s.byte_count}
        for n, s in sorted(stats.items())
    }


@dg.asset(
    group_name=GROUP,
    partitions_def=campaign_runs_partitions,
    backfill_policy=BACKFILL_POLICY,
    pool=API_POOL,
    deps=[message_export],
    kinds={"api", "parquet"},
    check_specs=[dg.AssetCheckSpec(CHECK_FILES_LANDED, asset="message_files")],
)
def message_files(
    context: dg.AssetExecutionContext, nudgescribe: NudgescribeResource, lake: LakeResource
) -> dg.MaterializeResult:
    """Fetches each CSV file of the export into one Parquet file in the lake.

    Downloads run in parallel (at most NUDGE_PARALLEL_DOWNLOADS at a time). A file already in
    the lake from the same export, with the row count and checksum recorded when it landed,
    is not fetched again.
    """
    the_lake = lake.lake()
    store = ExportStateStore(the_lake)
    failures = PartitionFailures(context)
    runs: list[_RunFiles] = []
    todo: list[tuple[_RunFiles, int]] = []
    for key in context.partition_keys:
        campaign_id, run_id = parse_campaign_run_key(key)
        state = completed_export(store, campaign_id, run_id)
        if state is None:
            reason = "no completed export (message_export skipped or has not run)"
            context.log.warning(f"{key}: {reason}")
            add_partition_metadata(context, key, _skip_metadata(reason))
            continue
        run = _RunFiles(
            key,
            campaign_id,
            run_id,
            str(state.get("job_id") or ""),
            int(state["num_files"]),
            {},
            export_type=nudgescribe.export_type,
        )
        runs.append(run)
        # Only this step writes a run's files, so any temporary file there is a killed
        # writer's leftover. (A concurrent run of the same partition would fail loudly.)
        the_lake.sweep_orphans(older_than_seconds=0, under=message_dir(campaign_id, run_id))
        prune_message_files(the_lake, campaign_id, run_id, run.num_files)
        recorded = state.get("files") or {}
        for file_num in range(run.num_files):
            stats = _already_landed(the_lake, run, file_num, recorded.get(str(file_num)) or {})
            if stats is not None:
                run.landed[file_num] = stats
            else:
                todo.append((run, file_num))
    skipped_files = sum(len(r.landed) for r in runs)
    progress.emit("files_planned", total=len(todo) + skipped_files, already=skipped_files)

    lock = threading.Lock()
    if todo:
        with (
            nudgescribe.client() as client,
            ThreadPoolExecutor(
                max_workers=max(1, nudgescribe.parallel_downloads), thread_name_prefix="fetch"
            ) as pool,
        ):
            futures = {
                pool.submit(_guarded, _land_file, client, the_lake, r, n, failures): (r, n)
                for r, n in todo
            }
            for future in as_completed(futures):
                run, file_num = futures[future]
                try:
                    stats = future.result()
                except Exception as exc:
                    with lock:
                        if run.key not in failures.by_key:
                            failures.record(run.key, exc, f"export file {file_num}")
                    continue
                if stats is None:  # not attempted: an earlier failure ruled it out
                    continue
                with lock:
                    run.landed[file_num] = stats
                    run.downloaded += 1
                progress.emit("file_landed", key=run.key, rows=stats.row_count)

    for run in runs:
        if run.key in failures.by_key or len(run.landed) < run.num_files:
            _discard_files(the_lake, run)
            continue
        if run.landed:
            store.update(run.campaign_id, run.run_id, files=_files_state(run.landed))
        rows = sum(s.row_count for s in run.landed.values())
        add_partition_metadata(
            context,
            run.key,
            {
                "skipped": False,
                "job_id": run.job_id,
                "num_files": run.num_files,
                "files_landed": len(run.landed),
                "files_downloaded": run.downloaded,
                "files_reused": len(run.landed) - run.downloaded,
                "dagster/row_count": rows,
                "lake_path": the_lake.uri(_run_dir(run)),
            },
        )
    crashpoints.reached(crashpoints.BETWEEN_LAKE_AND_WAREHOUSE)
    failures.raise_if_any()
    return dg.MaterializeResult(
        metadata={"dagster/column_schema": _message_column_schema()},
        check_results=[_files_landed_check(the_lake, runs)],
    )


def _guarded(
    land: Callable[[Any, Lake, _RunFiles, int], MessageFileStats],
    client: Any,
    lake: Lake,
    run: _RunFiles,
    file_num: int,
    failures: PartitionFailures,
) -> MessageFileStats | None:
    if failures.stop or run.key in failures.by_key:
        return None
    return land(client, lake, run, file_num)


def _discard_files(lake: Lake, run: _RunFiles) -> None:
    """A run lands whole or not at all: a failed run's files of this export leave the lake.

    Files of an earlier export (a run landed before) stay. Only a killed process leaves
    part of a run behind, for the next attempt to reuse.
    """
    for file_num, rel in list_message_files(lake, run.campaign_id, run.run_id):
        stats = existing_message_file(lake, run.campaign_id, run.run_id, file_num)
        if stats is None or stats.export_job_id == run.job_id:
            lake.delete(rel)


def _run_dir(run: _RunFiles) -> str:
    return message_dir(run.campaign_id, run.run_id)


def _message_column_schema() -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in MESSAGE_SCHEMA]
    )


def _files_landed_check(lake: Lake, runs: Sequence[_RunFiles]) -> dg.AssetCheckResult:
    mismatched = {}
    for run in runs:
        landed = [n for n, _ in list_message_files(lake, run.campaign_id, run.run_id)]
        if landed != list(range(run.num_files)):
            mismatched[run.key] = {"num_files": run.num_files, "landed": len(landed)}
    return dg.AssetCheckResult(
        check_name=CHECK_FILES_LANDED,
        passed=not mismatched,
        metadata={"runs_checked": len(runs), "mismatched": dg.MetadataValue.json(mismatched)},
        description="num_files reported by the export = Parquet files in the lake, per run",
    )


# -------------------------------------------------------------------------- messages


@dg.asset(
    group_name=GROUP,
    partitions_def=campaign_runs_partitions,
    backfill_policy=BACKFILL_POLICY,
    deps=[message_files],
    kinds={"sql"},
    check_specs=[
        dg.AssetCheckSpec(CHECK_ROWS_MATCH, asset="messages"),
        dg.AssetCheckSpec(CHECK_NO_DUPLICATES, asset="messages"),
        dg.AssetCheckSpec(CHECK_KNOWN_CUSTOMERS, asset="messages"),
    ],
)
def messages(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Replaces each campaign run's rows in nudgescribe.messages and message_files atomically."""
    the_lake = lake.lake()
    store = ExportStateStore(the_lake)
    failures = PartitionFailures(context)
    ready: dict[str, dict[str, Any]] = {}
    for key in context.partition_keys:
        state = completed_export(store, *parse_campaign_run_key(key))
        if state is None:
            reason = "no completed export (message_export skipped or has not run)"
            add_partition_metadata(context, key, _skip_metadata(reason))
        else:
            ready[key] = state
    with warehouse.open() as wh, wh.session():
        loaded = _load_runs(wh, the_lake, ready, failures)
        for key, run in loaded.items():
            progress.emit("run_loaded", key=key, rows=run.table_rows)
            add_partition_metadata(context, key, run.metadata(ready[key]))
        failures.raise_if_any()
        checks = _message_checks(wh, loaded)
    return dg.MaterializeResult(check_results=checks)


@dataclass(frozen=True)
class _LoadedRun:
    num_files: int
    csv_rows: int
    parquet_rows: int
    table_rows: int

    def metadata(self, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "skipped": False,
            "dagster/row_count": self.table_rows,
            "num_files": self.num_files,
            "job_id": str(state.get("job_id") or ""),
            "warehouse_table": "nudgescribe.messages",
        }


def _load_runs(
    wh: Any, lake: Lake, ready: dict[str, dict[str, Any]], failures: PartitionFailures
) -> dict[str, _LoadedRun]:
    """Load every run in one transaction; if any fails, each run again in its own.

    One commit for all saves a durable flush per run, which dominated many small runs.
    The fallback keeps a bad run from holding back the others.
    """
    if len(ready) > 1:
        # A failure rolls back all of them; the loop below then finds which run it was.
        with contextlib.suppress(Exception), wh.transaction():
            return {key: _load_one(wh, lake, key, state) for key, state in ready.items()}
    loaded = {}
    for key, state in ready.items():
        try:
            loaded[key] = _load_one(wh, lake, key, state)
        except Exception as exc:
            failures.record(key, exc)
    return loaded


def _load_one(wh: Any, lake: Lake, key: str, state: dict[str, Any]) -> _LoadedRun:
    campaign_id, run_id = parse_campaign_run_key(key)
    num_files = int(state["num_files"])
    loads: list[MessageFileLoad] = []
    csv_rows = parquet_rows = 0
    fetched_at = datetime.now(UTC)
    for file_num in range(num_files):
        stats = existing_message_file(lake, campaign_id, run_id, file_num)
        if stats is None:
            raise FileNotFoundError(f"{key}: export file {file_num} is not in the lake")
        csv_rows += stats.row_count
        parquet_rows += lake.parquet_file(stats.lake_path).metadata.num_rows
        # The Parquet file is written as the export file downloads: its mtime is when.
        parquet = lake.fs.get_file_info(lake.fs_path(stats.lake_path))
        loads.append(
            MessageFileLoad(
                file_num=file_num,
                # Local lakes are loaded by path; object stores through the lake's filesystem.
                lake_path=stats.uri if lake.is_local else lake.fs_path(stats.lake_path),
                row_count=stats.row_count,
                byte_count=stats.byte_count,
                sha256=stats.sha256,
                export_job_id=stats.export_job_id,
                fetched_at=parquet.mtime or fetched_at,
                lake_relpath=stats.lake_path,
                parquet_byte_count=parquet.size,
            )
        )
    filesystem = None if lake.is_local else lake.fs
    rows = wh.replace_messages(
        campaign_id, run_id, loads, filesystem=filesystem, lake_root=lake.root
    )
    return _LoadedRun(num_files, csv_rows, parquet_rows, rows)


def _message_checks(wh: Any, loaded: dict[str, _LoadedRun]) -> list[dg.AssetCheckResult]:
    runs = {key: parse_campaign_run_key(key) for key in loaded}
    in_table = wh.message_counts(list(runs.values()))
    # The primary key makes a repeated key impossible; without it, scan (a hash of every key).
    key_enforced = wh.messages_key_enforced()
    dupes = (
        dict.fromkeys(runs.values(), 0)
        if key_enforced
        else wh.duplicate_message_keys_by_run(list(runs.values()))
    )
    strangers = wh.unknown_customer_messages_by_run(list(runs.values()))
    mismatched: dict[str, Any] = {}
    for key, run in loaded.items():
        rows = in_table[runs[key]]
        if not (run.csv_rows == run.parquet_rows == rows):
            mismatched[key] = {
                "csv_rows": run.csv_rows,
                "parquet_rows": run.parquet_rows,
                "table_rows": rows,
            }
    duplicated = {key: dupes[run] for key, run in runs.items() if dupes[run]}
    unknown = {key: strangers[run] for key, run in runs.items() if strangers[run]}
    checked = {"runs_checked": len(loaded)}
    return [
        dg.AssetCheckResult(
            check_name=CHECK_ROWS_MATCH,
            passed=not mismatched,
            metadata={**checked, "mismatched": dg.MetadataValue.json(mismatched)},
            description="rows in the CSV = rows in the Parquet = rows in the table, per run",
        ),
        dg.AssetCheckResult(
            check_name=CHECK_NO_DUPLICATES,
            passed=not duplicated,
            metadata={
                **checked,
                "verified_by": "primary key" if key_enforced else "scan",
                "duplicated_keys": dg.MetadataValue.json(duplicated),
            },
            description="no (file_num, row_num) appears twice in a run",
        ),
        dg.AssetCheckResult(
            check_name=CHECK_KNOWN_CUSTOMERS,
            passed=not unknown,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                **checked,
                "unknown_customer_messages": sum(unknown.values()),
                "by_run": dg.MetadataValue.json(unknown),
            },
            description="every message's customer is a customer of the campaign's group",
        ),
    ]


MESSAGE_ASSETS = [message_export, message_files, messages]
