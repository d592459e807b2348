"""Per campaign run: message_export → message_files → messages, landed by the landing engine.

One multi-asset step drives every partition of its run side by side (see landing/engine.py)
and reports each partition the moment it is final:

- landed: a materialization of each selected asset, with the run's own metadata;
- skipped (not eligible, or gone): an observation with the reason, never a materialization;
- failed: an observation with the cause, and the step fails once every run is final.

Selecting only `messages` reloads the warehouse rows from the lake without calling the API.
"""

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import dagster as dg

from nudge_pipeline.defs import progress
from nudge_pipeline.defs.assets.checks import CHECK_SPECS, message_checks
from nudge_pipeline.defs.assets.common import API_POOL, BACKFILL_POLICY
from nudge_pipeline.defs.automation import (
    EXPORT_CONDITION,
    FOUND_CAMPAIGN_RUNS,
    WITH_EXPORT_CONDITION,
)
from nudge_pipeline.defs.partitions import campaign_runs_partitions, parse_campaign_run_key
from nudge_pipeline.defs.resources import LakeResource, NudgescribeResource, WarehouseResource
from nudge_pipeline.lake import MESSAGE_SCHEMA, message_dir
from nudge_pipeline.landing.discovery import (
    DiscoveredRun,
    Discovery,
    discover,
    recent_discovery,
    runs_to_land,
)
from nudge_pipeline.landing.engine import LandingEngine, Result, RunOutcome, Step
from nudge_pipeline.landing.failures import cause_of, describe
from nudge_pipeline.warehouse import LoadStatus, RunStatus

GROUP = "messages"
MESSAGE_EXPORT = dg.AssetKey("message_export")
MESSAGE_FILES = dg.AssetKey("message_files")
MESSAGES = dg.AssetKey("messages")
STEP_OF = {MESSAGE_EXPORT: Step.EXPORT, MESSAGE_FILES: Step.FILES, MESSAGES: Step.LOAD}
LOAD_STATUS = "load_status"
# Set by `nudge-pipeline sync` on its runs: when it started, so a failure of its own that rules
# out every run (a spent quota) is not tried again within the same sync.
SYNC_STARTED_TAG = "nudge/sync_started_at"


def _spec(
    key: dg.AssetKey,
    deps: Sequence[Any],
    kinds: set[str],
    description: str,
    metadata: dict[str, Any] | None = None,
) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        metadata=metadata,
        automation_condition=EXPORT_CONDITION if key == MESSAGE_EXPORT else WITH_EXPORT_CONDITION,
        group_name=GROUP,
        partitions_def=campaign_runs_partitions,
        deps=deps,
        kinds=kinds,
        description=description,
        # A run that will not be exported must never show as materialized.
        skippable=True,
    )


def _message_column_schema() -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in MESSAGE_SCHEMA]
    )


@dg.multi_asset(
    name="campaign_run_landing",
    specs=[
        _spec(
            MESSAGE_EXPORT,
            ["campaign_runs", FOUND_CAMPAIGN_RUNS],
            {"api"},
            "Publishes an eligible campaign run (or reuses its completed export) and waits "
            "until the CSV export is complete. Only completed runs of campaigns at a stage in "
            "NUDGE_PUBLISH_STAGES (default Published) are published: publishing a 'Ready to "
            "Publish' campaign sends it to its customers.",
        ),
        _spec(
            MESSAGE_FILES,
            [MESSAGE_EXPORT],
            {"api", "parquet"},
            "Each CSV file of the export as one Parquet file in the lake. A file already "
            "landed from the same export, with the checksum recorded then, is not fetched again.",
            # The same for every partition: on the definition, not on each materialization.
            {"dagster/column_schema": _message_column_schema()},
        ),
        _spec(
            MESSAGES,
            [MESSAGE_FILES],
            {"sql"},
            "The run's rows in nudgescribe.messages and message_files, replaced in one "
            "transaction from the lake's files.",
        ),
    ],
    check_specs=CHECK_SPECS,
    can_subset=True,
    pool=API_POOL,
    backfill_policy=BACKFILL_POLICY,
)
def campaign_run_landing(
    context: dg.AssetExecutionContext,
    nudgescribe: NudgescribeResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> Iterator[Any]:
    selected = [
        key
        for key in (MESSAGE_EXPORT, MESSAGE_FILES, MESSAGES)
        if key in context.selected_asset_keys
    ]
    steps = frozenset(STEP_OF[key] for key in selected)
    keys = list(context.partition_keys)
    the_lake = lake.lake()
    outcomes: list[RunOutcome] = []
    failures: list[str] = []
    with nudgescribe.client() as client:
        try:
            found = _discovery(nudgescribe, client, keys, needs_api=Step.EXPORT in steps)
        except Exception as exc:  # nothing is known of any run: each fails with the cause
            yield from _all_failed(keys, selected, exc)
            raise
        unreadable = found.failed_campaigns if found else {}
        for key in keys:
            error = unreadable.get(parse_campaign_run_key(key)[0])
            if error is not None:
                failures.append(f"{key}: {cause_of(error)}: {describe(error)}")
                yield from _all_failed([key], selected, error)
        runs = runs_to_land(found, keys) if found else _lake_only_runs(keys)
        # The Runs list and the backfill page then say which campaigns a run is about.
        context.instance.add_run_tags(context.run.run_id, run_tags(runs))
        with warehouse.open_if(Step.LOAD in steps) as wh:
            engine = LandingEngine(
                client, the_lake, wh, nudgescribe.engine_settings(), listener=_progress
            )
            stopped_since = context.run.tags.get(SYNC_STARTED_TAG)
            for outcome in engine.land(runs, steps, stopped_since):
                outcomes.append(outcome)
                if outcome.result is Result.FAILED:
                    failures.append(f"{outcome.run.key}: {outcome.cause}: {outcome.message}")
                    context.log.error(failures[-1])
                yield from _partition_events(outcome, selected, stopped_since)
            if wh is not None:
                wh.record_run_statuses(unloaded_statuses(outcomes))
                yield from message_checks(context, wh, the_lake, outcomes)
    if failures:
        raise dg.Failure(
            description=f"{len(failures)} campaign run(s) failed:\n" + "\n".join(failures),
            allow_retries=False,
        )


_STATUS_OF: dict[Result, LoadStatus] = {
    Result.SKIPPED: "skipped",
    Result.FAILED: "failed",
    Result.NOT_ATTEMPTED: "pending",
}


def unloaded_statuses(outcomes: Sequence[RunOutcome]) -> list[RunStatus]:
    """Warehouse statuses of the runs this step did not load (a load writes its own)."""
    return [
        RunStatus(
            o.run.campaign_id,
            o.run.run_id,
            _STATUS_OF[o.result],
            load_reason=o.message or o.cause or None,
            export_job_id=o.record.job_id,
        )
        for o in outcomes
        if o.result in _STATUS_OF
    ]


def not_exported_observations(runs: Iterable[DiscoveredRun]) -> list[dg.AssetObservation]:
    """Why each of these completed runs will not be exported.

    The sensor and `sync` report them when they add the partitions, so the UI tells a run
    that is skipped from one not yet landed without any Dagster run being spent on it. On
    `messages` only, the table people look for: each event costs the event log about 10 ms
    of writes (SQLite or PostgreSQL), and the first sync of an account can meet thousands of
    such runs. A step that skips a run (it became ineligible since) observes each asset.
    """
    observations: list[dg.AssetObservation] = []
    for run in runs:
        labels: dict[str, Any] = {
            "campaign_id": run.campaign.campaign_id,
            "run_id": run.run.run_id,
            "campaign_name": run.campaign.campaign_name or "",
            "workspace_name": run.campaign.workspace_name or "",
            "stage": run.campaign.stage or "",
        }
        if run.run.run_number is not None:
            labels["run_number"] = run.run.run_number
        metadata = {**labels, LOAD_STATUS: "skipped", "reason": run.eligibility.reason}
        observations.append(
            dg.AssetObservation(asset_key=MESSAGES, partition=run.partition_key, metadata=metadata)
        )
    return observations


def _all_failed(
    keys: Sequence[str], selected: Sequence[dg.AssetKey], error: BaseException
) -> Iterator[dg.AssetObservation]:
    metadata = {LOAD_STATUS: "failed", "cause": cause_of(error), "reason": describe(error)}
    for key in keys:
        for asset in selected:
            yield dg.AssetObservation(asset_key=asset, partition=key, metadata=metadata)


def _progress(event: str, data: dict[str, Any]) -> None:
    progress.emit(event, **data)


def _discovery(
    nudgescribe: NudgescribeResource, client: Any, keys: Sequence[str], needs_api: bool
) -> Discovery | None:
    """What the account says of these runs: a recent discovery of this process, or a new one.

    A reload from the lake alone (no export step) asks nothing of the API.
    """
    if not needs_api:
        return None
    found = recent_discovery(nudgescribe.account_key())
    if found is not None and {r.partition_key for r in found.runs} >= set(keys):
        return found
    campaign_ids = sorted({parse_campaign_run_key(k)[0] for k in keys})
    return discover(
        client,
        nudgescribe.allowed_stages(),
        campaign_ids,
        with_groups=False,
        readers=nudgescribe.parallel_downloads,
    )


def _lake_only_runs(keys: Sequence[str]) -> list[Any]:
    from nudge_pipeline.landing.engine import RunToLand

    return [RunToLand(*parse_campaign_run_key(key)) for key in keys]


TAG_LIMIT = 200


def run_tags(runs: Sequence[Any]) -> dict[str, str]:
    """Tags naming the campaigns, workspaces, stages (and, for one run, its number)."""

    def listed(values: Iterable[str]) -> str:
        names = sorted({v for v in values if v})
        text = "; ".join(names)
        return text if len(text) <= TAG_LIMIT else f"{text[: TAG_LIMIT - 12]}… ({len(names)})"

    tags = {
        "nudge/campaign_runs": str(len(runs)),
        "nudge/campaigns": listed(r.campaign_name or r.campaign_id for r in runs),
        "nudge/workspaces": listed(r.workspace_name for r in runs),
        "nudge/stages": listed(r.stage for r in runs),
    }
    if len(runs) == 1 and runs[0].run_number is not None:
        tags["nudge/run_number"] = str(runs[0].run_number)
    return {k: v for k, v in tags.items() if v}


def run_labels(outcome: RunOutcome) -> dict[str, Any]:
    """What a person needs to recognise a campaign run (the key is two UUIDs)."""
    run = outcome.run
    labels: dict[str, Any] = {
        "campaign_id": run.campaign_id,
        "run_id": run.run_id,
    }
    if run.campaign_name:
        labels["campaign_name"] = run.campaign_name
    if run.workspace_name:
        labels["workspace_name"] = run.workspace_name
    if run.stage:
        labels["stage"] = run.stage
    if run.run_number is not None:
        labels["run_number"] = run.run_number
    return labels


def files_fetched(outcome: RunOutcome, sync_started_at: str | None) -> int:
    """Files this step fetched; within `sync`, also those its start-up fetched before it."""
    if sync_started_at is None:
        return outcome.files_downloaded
    early = sum(1 for f in outcome.record.files.values() if f.fetched_at >= sync_started_at)
    return max(outcome.files_downloaded, early)


def _partition_events(
    outcome: RunOutcome, selected: Sequence[dg.AssetKey], sync_started_at: str | None
) -> Iterator[dg.AssetMaterialization | dg.AssetObservation]:
    key, record = outcome.run.key, outcome.record
    labels = run_labels(outcome)
    if outcome.result is Result.LANDED:
        csv_rows = record.csv_rows
        fetched = files_fetched(outcome, sync_started_at)
        per_asset: dict[dg.AssetKey, dict[str, Any]] = {
            MESSAGE_EXPORT: {
                "job_id": record.job_id or "",
                "num_files": record.num_files or 0,
                "reused_export": outcome.reused_export,
                "published": outcome.published,
                "dagster/row_count": outcome.run.message_count or 0,
            },
            MESSAGE_FILES: {
                "job_id": record.job_id or "",
                "num_files": record.num_files or 0,
                "files_downloaded": fetched,
                "files_reused": (record.num_files or 0) - fetched,
                "dagster/row_count": csv_rows,
                "lake_path": message_dir(outcome.run.campaign_id, outcome.run.run_id),
            },
            MESSAGES: {
                "job_id": record.job_id or "",
                "num_files": record.num_files or 0,
                "dagster/row_count": outcome.table_rows or 0,
                "warehouse_table": "nudgescribe.messages",
                "load_seconds": round(outcome.load_seconds or 0.0, 3),
            },
        }
        for asset in selected:
            yield dg.AssetMaterialization(
                asset_key=asset,
                partition=key,
                metadata={**labels, LOAD_STATUS: "loaded", **per_asset[asset]},
            )
        return
    status = {
        Result.UP_TO_DATE: "loaded",
        Result.BY_OTHER: "loaded",
        Result.SKIPPED: "skipped",
        Result.FAILED: "failed",
        Result.NOT_ATTEMPTED: "pending",
    }[outcome.result]
    note = {
        Result.UP_TO_DATE: "already loaded by an earlier run",
        Result.BY_OTHER: "landed meanwhile by another run holding its claim",
    }.get(outcome.result, outcome.message)
    for asset in selected:
        yield dg.AssetObservation(
            asset_key=asset,
            partition=key,
            metadata={**labels, LOAD_STATUS: status, "reason": note, "cause": outcome.cause},
        )


MESSAGE_ASSETS = [campaign_run_landing]
