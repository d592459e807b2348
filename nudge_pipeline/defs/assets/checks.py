"""Checks of the campaign-run assets, computed from what the landing counted and the tables.

Each can fail: files missing from the lake, rows lost or added between the API's count,
the CSV stream, the Parquet files and the table, a repeated row key, unknown customers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from nudge_pipeline.lake import Lake, list_message_files
from nudge_pipeline.landing.engine import Result, RunOutcome
from nudge_pipeline.warehouse import Warehouse

CHECK_FILES_LANDED = "all_export_files_landed"
CHECK_ROWS_RECONCILE = "rows_reconcile_api_csv_parquet_table"
CHECK_NO_DUPLICATES = "no_duplicate_file_row_keys"
CHECK_KNOWN_CUSTOMERS = "customers_are_known"

CHECK_SPECS = [
    dg.AssetCheckSpec(
        CHECK_FILES_LANDED,
        asset="message_files",
        description="Every file the export reported (num_files) is a Parquet file in the lake.",
    ),
    dg.AssetCheckSpec(
        CHECK_ROWS_RECONCILE,
        asset="messages",
        description="Rows agree at every hop: counted while streaming each CSV, in the "
        "Parquet files, in the table, and the run's message_count where the API gives one.",
    ),
    dg.AssetCheckSpec(
        CHECK_NO_DUPLICATES,
        asset="messages",
        description="No (file_num, row_num) key appears twice in a run's rows.",
    ),
    dg.AssetCheckSpec(
        CHECK_KNOWN_CUSTOMERS,
        asset="messages",
        description="Every message's customer is a customer of the campaign's customer group "
        "(a warning: the customers may not be landed yet).",
    ),
]


def message_checks(
    context: dg.AssetExecutionContext, wh: Warehouse, lake: Lake, outcomes: Sequence[RunOutcome]
) -> Iterator[dg.AssetCheckResult]:
    # One connection for all their queries: on DuckDB each new one opens the file anew.
    with wh.session():
        results = list(_message_check_results(context, wh, lake, outcomes))
    yield from results


def _message_check_results(
    context: dg.AssetExecutionContext, wh: Warehouse, lake: Lake, outcomes: Sequence[RunOutcome]
) -> Iterator[dg.AssetCheckResult]:
    selected = {key.name for key in context.selected_asset_check_keys}
    landed = [o for o in outcomes if o.result is Result.LANDED]
    checked = {"runs_checked": len(landed)}
    if CHECK_FILES_LANDED in selected:
        yield _files_landed(lake, landed, checked)
    loaded = [o for o in landed if o.table_rows is not None]
    runs = {o.run.key: (o.run.campaign_id, o.run.run_id) for o in loaded}
    if CHECK_ROWS_RECONCILE in selected:
        yield _rows_reconcile(wh, loaded, runs, {"runs_checked": len(loaded)})
    if CHECK_NO_DUPLICATES in selected:
        yield no_duplicates_check(wh, runs)
    if CHECK_KNOWN_CUSTOMERS in selected:
        strangers = wh.unknown_customer_messages_by_run(list(runs.values())) if runs else {}
        unknown = {key: strangers[run] for key, run in runs.items() if strangers.get(run)}
        yield dg.AssetCheckResult(
            check_name=CHECK_KNOWN_CUSTOMERS,
            asset_key="messages",
            passed=not unknown,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "runs_checked": len(loaded),
                "unknown_customer_messages": sum(unknown.values()),
                "by_run": dg.MetadataValue.json(unknown),
            },
        )


def _files_landed(
    lake: Lake, landed: Sequence[RunOutcome], checked: dict[str, Any]
) -> dg.AssetCheckResult:
    mismatched = {}
    for outcome in landed:
        run, expected = outcome.run, outcome.record.num_files or 0
        found = [n for n, _ in list_message_files(lake, run.campaign_id, run.run_id)]
        if found != list(range(expected)):
            mismatched[run.key] = {"num_files": expected, "in_lake": len(found)}
    return dg.AssetCheckResult(
        check_name=CHECK_FILES_LANDED,
        asset_key="message_files",
        passed=not mismatched,
        metadata={**checked, "mismatched": dg.MetadataValue.json(mismatched)},
    )


def _rows_reconcile(
    wh: Warehouse,
    loaded: Sequence[RunOutcome],
    runs: dict[str, tuple[str, str]],
    checked: dict[str, Any],
) -> dg.AssetCheckResult:
    in_table = wh.message_counts(list(runs.values())) if runs else {}
    mismatched: dict[str, Any] = {}
    for outcome in loaded:
        counts = {
            "csv_rows": outcome.record.csv_rows,
            "parquet_rows": outcome.parquet_rows,
            "table_rows": in_table.get(runs[outcome.run.key], 0),
        }
        if outcome.run.message_count is not None:
            counts["api_message_count"] = outcome.run.message_count
        if len(set(counts.values())) > 1:
            mismatched[outcome.run.key] = counts
    return dg.AssetCheckResult(
        check_name=CHECK_ROWS_RECONCILE,
        asset_key="messages",
        passed=not mismatched,
        metadata={**checked, "mismatched": dg.MetadataValue.json(mismatched)},
    )


def no_duplicates_check(wh: Warehouse, runs: dict[str, tuple[str, str]]) -> dg.AssetCheckResult:
    """No (file_num, row_num) twice in any of `runs` (partition key → campaign and run id)."""
    # The primary key makes a repeated key impossible; without it, scan (a hash of every key).
    key_enforced = wh.messages_key_enforced()
    dupes = (
        dict.fromkeys(runs.values(), 0)
        if key_enforced or not runs
        else wh.duplicate_message_keys_by_run(list(runs.values()))
    )
    duplicated = {key: dupes[run] for key, run in runs.items() if dupes.get(run)}
    return dg.AssetCheckResult(
        check_name=CHECK_NO_DUPLICATES,
        asset_key="messages",
        passed=not duplicated,
        metadata={
            "runs_checked": len(runs),
            "verified_by": "primary key" if key_enforced else "scan",
            "duplicated_keys": dg.MetadataValue.json(duplicated),
        },
    )
