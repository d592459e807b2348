"""`nudge-pipeline sync`: discover once, register partitions, then materialize through Dagster.

Every run is executed by Dagster (`execute_in_process`) on the DAGSTER_HOME instance, so the
runs, partitions and materializations show in the UI as if the sensor had started them.
The exports start first, right after discovery, so the vendor generates the files while the
snapshots and the customers land, and each export's files are fetched as soon as it is done.
The outcome of each campaign run is read back from its run record, the one copy every path
writes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from nudge_pipeline.defs import build_defs, progress
from nudge_pipeline.defs.assets.common import API_POOL, plain_metadata
from nudge_pipeline.defs.assets.messages import SYNC_STARTED_TAG, not_exported_observations
from nudge_pipeline.defs.jobs import campaign_run_job, customers_job, snapshots_job
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, CUSTOMER_GROUPS
from nudge_pipeline.defs.resources import resources_from_env
from nudge_pipeline.defs.schedules import range_tags
from nudge_pipeline.landing.discovery import Discovery
from nudge_pipeline.landing.early import EarlyExports
from nudge_pipeline.landing.engine import gone_from_this_host, of_this_process
from nudge_pipeline.landing.failures import GLOBAL_CAUSES, QUOTA_EXHAUSTED, cause_of, describe
from nudge_pipeline.landing.keys import parse_campaign_run_key
from nudge_pipeline.landing.record import RunRecord, RunRecordStore, RunState, now_iso
from nudge_pipeline.warehouse import RunStatus

# Partitions per Dagster run: the engine lands them side by side, so one run per sync is
# the aim; the bound keeps a huge first sync's runs (and their event logs) reviewable.
SYNC_PARTITIONS_PER_RUN = 500
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
STARTED_BY_TAG = "nudge/started_by"
STARTED_BY = "nudge-pipeline sync"
# host:pid of the process executing the run, so a later sync can tell a dead run from a live one.
WORKER_TAG = "nudge/worker"
NOT_ATTEMPTED = "not attempted"
log = logging.getLogger(__name__)
# Dagster's opt-in: a run over many partitions logs one "planned" event per asset, not one per
# asset and partition (600 events, 6 s, for 200 campaign runs). Its cost, as Dagster states
# it: a partition of a run that fails is not marked failed by Dagster; the step's own
# `load_status: failed` observation still says so (docs/dagster.md).
PLANNED_EVENTS_PER_ASSET = ("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")


@dataclass
class RunOutcome:
    key: str
    campaign_id: str
    run_id: str
    campaign_name: str
    stage: str
    state: str  # landed | up to date | skipped | failed | not attempted
    rows: int = 0
    files: int = 0
    reason: str = ""


@dataclass
class Failure:
    cause: str
    subject: str
    message: str


@dataclass
class SyncReport:
    runs: list[RunOutcome] = field(default_factory=list)
    snapshots: dict[str, int] = field(default_factory=dict)
    customer_groups: int = 0
    customers: int = 0
    failures: list[Failure] = field(default_factory=list)
    dagster_run_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def failure_lines(self) -> list[str]:
        """One line per cause: the cause, how many items, the first message."""
        by_cause: dict[str, list[Failure]] = {}
        for failure in self.failures:
            by_cause.setdefault(failure.cause, []).append(failure)
        lines = []
        for cause, items in by_cause.items():
            subjects = ", ".join(f.subject for f in items[:3]) + (" …" if len(items) > 3 else "")
            lines.append(f"{cause} ({len(items)}: {subjects}): {items[0].message}")
        return lines


Listener = Callable[[str, dict[str, Any]], None]


def _emit(listener: Listener | None, event: str, **data: Any) -> None:
    if listener is not None:
        listener(event, data)


def consecutive_chunks(keys: Sequence[str], order: Sequence[str], size: int) -> list[list[str]]:
    """Split `keys` into runs of partitions that are adjacent in `order` (a range per run)."""
    position = {k: i for i, k in enumerate(order)}
    ranked = sorted((position[k], k) for k in keys if k in position)
    chunks: list[list[str]] = []
    last = None
    for index, key in ranked:
        if chunks and last is not None and index == last + 1 and len(chunks[-1]) < size:
            chunks[-1].append(key)
        else:
            chunks.append([key])
        last = index
    return chunks


def worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SyncEngine:
    def __init__(
        self,
        instance: dg.DagsterInstance,
        campaign_ids: Sequence[str] = (),
        listener: Listener | None = None,
        max_partitions_per_run: int = SYNC_PARTITIONS_PER_RUN,
        early: EarlyExports | None = None,
    ) -> None:
        self.instance = instance
        self.campaign_ids = list(campaign_ids)
        self.listener = listener
        self.batch = max_partitions_per_run
        self.resources = resources_from_env()
        self.defs = build_defs(self.resources)
        self.report = SyncReport()
        self._lock = threading.Lock()
        self._initialized: dict[str, Any] = {}
        self._open_resources = ExitStack()
        self.early = (
            early
            or EarlyExports(
                self._resource("nudgescribe").settings(), campaign_ids, now_iso()
            ).start()
        )
        self.started_at = self.early.started_at

    def _resource(self, name: str) -> Any:
        """A resource initialized once per sync, on this instance: initialized on its own,
        each would build Dagster an ephemeral instance (40-80 ms)."""
        if name not in self._initialized:
            built = dg.build_resources({name: self.resources[name]}, instance=self.instance)
            self._initialized[name] = getattr(self._open_resources.enter_context(built), name)
        return self._initialized[name]

    def run(self) -> SyncReport:
        progress.set_listener(self.listener)
        try:
            close_runs_of_dead_workers(self.instance)
            found = self._discover()
            if found is None:
                return self.report
            self._register(found)
            todo = self._campaign_runs_todo(found)
            # The exports started before Dagster was loaded (EarlyExports): they are awaited,
            # and their files fetched, in the background while the snapshots and customers land.
            self._snapshots()
            if not self._stopped(for_reads=True):
                self._customers(found)
            # Each run moves on as soon as its own files are in; one still in the background's
            # hands is claimed there, and the Dagster run waits for that claim.
            _emit(self.listener, "phase", name="campaign_runs", total=len(todo))
            for chunk in self._chunks(CAMPAIGN_RUNS, todo):
                result = self._run_safely(campaign_run_job, chunk, chunk[0])
                self._settle_campaign_runs(chunk, result)
            self.early.join()
            for cause, subject, message in self.early.failures:
                self._fail(cause, subject, message)
            self._report_runs(found, set(todo))
        finally:
            progress.set_listener(None)
            self._open_resources.close()
        return self.report

    # -- discovery and partitions ------------------------------------------------------

    def _fail(self, cause: str, subject: str, message: str) -> None:
        with self._lock:
            self.report.failures.append(Failure(cause, subject, message))

    def _stopped(self, *, for_reads: bool = False) -> bool:
        """A failure ruled out every run; a spent quota rules out publishes, not reads."""
        causes = GLOBAL_CAUSES - {QUOTA_EXHAUSTED} if for_reads else GLOBAL_CAUSES
        return any(f.cause in causes for f in self.report.failures)

    def _discover(self) -> Discovery | None:
        _emit(self.listener, "phase", name="discovery")
        try:
            found = self.early.wait_for_discovery()
        except Exception as exc:
            self._fail(cause_of(exc), "discovery", describe(exc))
            return None
        missing = set(self.campaign_ids) - {c.campaign_id for c in found.campaigns}
        for campaign_id in sorted(missing):
            self._fail("not found", f"campaign {campaign_id}", "no such campaign in the account")
        for run in found.rejected_runs:
            self._fail("unusable id", f"campaign {run.campaign.campaign_id}", str(run.key_error))
        for problem in found.rejected_groups:
            self._fail("unusable id", "customer group", problem)
        for campaign_id, error in found.failed_campaigns.items():
            self._fail(cause_of(error), f"campaign {campaign_id}", describe(error))
        return found

    def _register(self, found: Discovery) -> None:
        # Eligible runs first: adjacent keys form one range, so they share one Dagster run.
        eligible = found.eligible_partition_keys
        run_keys = eligible + [k for k in found.run_partition_keys if k not in set(eligible)]
        for name, keys in (
            (CAMPAIGN_RUNS, run_keys),
            (CUSTOMER_GROUPS, found.group_partition_keys),
        ):
            known = set(self.instance.get_dynamic_partitions(name))
            new = [k for k in dict.fromkeys(keys) if k not in known]
            if new:
                self.instance.add_dynamic_partitions(name, new)
            if name == CAMPAIGN_RUNS:
                skipped = [r for r in found.completed_runs if r.partition_key in set(new)]
                skipped = [r for r in skipped if not r.eligibility.eligible]
                for observation in not_exported_observations(skipped):
                    self.instance.report_runless_asset_event(observation)
            _emit(self.listener, "partitions_registered", name=name, new=len(new))

    def _campaign_runs_todo(self, found: Discovery) -> list[str]:
        """Eligible runs whose `messages` partition is not materialized (skips never are),
        or is but not in this warehouse (a new one, on the same instance and lake: its rows
        come from the lake, with no publish)."""
        materialized = self.instance.get_materialized_partitions(dg.AssetKey("messages"))
        eligible = found.eligible_partition_keys
        done = [k for k in eligible if k in materialized]
        if done:
            held = self._held_by_warehouse(done)
            materialized = {k for k in materialized if k in held}
        return [k for k in eligible if k not in materialized]

    def _held_by_warehouse(self, keys: Sequence[str]) -> set[str]:
        runs = {parse_campaign_run_key(k): k for k in keys}
        try:
            with self._resource("warehouse").open() as wh:
                return {runs[run] for run in wh.loaded_runs(list(runs))}
        except Exception as exc:  # the Dagster runs meet the same problem and say more
            log.warning("could not read which runs the warehouse holds: %s", describe(exc))
            return set(keys)

    def _chunks(self, partitions: str, keys: Sequence[str]) -> list[list[str]]:
        if not keys:
            return []
        order = self.instance.get_dynamic_partitions(partitions)
        return consecutive_chunks(keys, order, self.batch)

    # -- Dagster runs ------------------------------------------------------------------

    def _execute(self, job: Any, keys: Sequence[str] | None) -> dg.ExecuteInProcessResult:
        tags = range_tags(keys[0], keys[-1]) if keys else {}
        tags[SYNC_STARTED_TAG] = self.started_at
        result = self.defs.resolve_job_def(job.name).execute_in_process(
            instance=self.instance,
            run_id=str(uuid.uuid4()),
            tags={**tags, STARTED_BY_TAG: STARTED_BY, WORKER_TAG: worker_label()},
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
        with self._lock:
            self.report.dagster_run_ids.append(result.run_id)
        return result

    def _step_failures(self, result: dg.ExecuteInProcessResult, subject: str) -> None:
        """Each partition observed as failed, with its cause; else each failed step's error."""
        failed: set[str] = set()  # a partition is observed once per asset: reported once
        for event in result.all_events:
            if event.event_type_value != "ASSET_OBSERVATION":
                continue
            seen = event.asset_observation_data.asset_observation
            metadata = plain_metadata(seen.metadata)
            key = str(seen.partition)
            if metadata.get("load_status") == "failed" and seen.partition and key not in failed:
                failed.add(key)
                self._fail(str(metadata["cause"]), key, str(metadata["reason"]))
        if failed:
            return
        for event in result.all_events:
            if event.is_step_failure:
                error = event.step_failure_data.error
                self._fail("unexpected error", subject, step_error_line(error))

    def _snapshots(self) -> None:
        _emit(self.listener, "phase", name="snapshots", total=1)
        result = self._run_safely(snapshots_job, None, "snapshots")
        if result is None:
            return
        self._step_failures(result, "snapshots")
        # The snapshots job materializes the snapshots and nothing else.
        for event in result.get_asset_materialization_events():
            mat = event.materialization
            rows = plain_metadata(mat.metadata).get("dagster/row_count")
            if rows is not None:
                self.report.snapshots[mat.asset_key.to_user_string()] = int(rows)

    def _customers(self, found: Discovery) -> None:
        keys = found.group_partition_keys
        _emit(self.listener, "phase", name="customers", total=len(keys))
        for chunk in self._chunks(CUSTOMER_GROUPS, keys):
            result = self._run_safely(customers_job, chunk, "customers")
            if result is None:
                continue
            self._step_failures(result, "customers")
            for event in result.get_asset_materialization_events():
                rows = plain_metadata(event.materialization.metadata).get("dagster/row_count")
                self.report.customer_groups += 1
                self.report.customers += int(rows or 0)
            _emit(self.listener, "customers_done", count=len(chunk))

    def _run_safely(
        self, job: Any, keys: Sequence[str] | None, subject: str
    ) -> dg.ExecuteInProcessResult | None:
        try:
            return self._execute(job, keys)
        except Exception as exc:  # the run could not even start
            self._fail(cause_of(exc), subject, describe(exc))
            return None

    def _settle_campaign_runs(
        self, chunk: list[str], result: dg.ExecuteInProcessResult | None
    ) -> None:
        if result is not None:
            self._step_failures(result, "campaign runs")

    # -- the summary, from the run records ---------------------------------------------

    def _report_runs(self, found: Discovery, attempted: set[str]) -> None:
        records = RunRecordStore(self._resource("lake").lake())
        reported = {f.subject for f in self.report.failures}
        not_exported = [
            RunStatus(
                r.campaign.campaign_id, r.run.run_id, "skipped", load_reason=r.eligibility.reason
            )
            for r in found.completed_runs
            if r.partition_key and not r.eligibility.eligible
        ]
        for run in found.completed_runs:
            key = run.partition_key
            if not key:
                continue
            outcome = RunOutcome(
                key=key,
                campaign_id=run.campaign.campaign_id,
                run_id=run.run.run_id,
                campaign_name=run.campaign.campaign_name or "",
                stage=run.campaign.stage or "",
                state="skipped",
                reason=run.eligibility.reason,
            )
            self.report.runs.append(outcome)
            if not run.eligibility.eligible:
                continue
            record = records.get(*parse_campaign_run_key(key))
            if record is not None:
                outcome.files = record.num_files or 0
                outcome.rows = record.loaded_rows or 0
            if key not in attempted:
                outcome.state, outcome.reason = "up to date", ""
            elif record is not None and record.state is RunState.LOADED:
                outcome.state, outcome.reason = _load_outcome(record, self.started_at)
            elif record is not None and record.state is RunState.FAILED:
                outcome.state, outcome.reason = "failed", record.cause
                if key not in reported:
                    self._fail(record.cause, key, record.reason)
            elif record is not None and record.state is RunState.SKIPPED:
                outcome.state, outcome.reason = "skipped", record.reason
            else:
                outcome.state, outcome.reason = NOT_ATTEMPTED, ""
                if not self._stopped() and key not in reported:
                    self._fail("not landed", key, "its Dagster run ended before it landed")
        self._record_skips(not_exported)

    def _record_skips(self, statuses: list[RunStatus]) -> None:
        """Runs that no Dagster run was asked to land still say why in the warehouse."""
        if not statuses:
            return
        try:
            with self._resource("warehouse").open() as wh:
                wh.record_run_statuses(statuses)
        except Exception as exc:
            self._fail(cause_of(exc), "campaign_run_status", describe(exc))


def step_error_line(error: Any) -> str:
    """The step's own error, not Dagster's wrapper of it ("Error occurred while executing op")."""
    if error is None:
        return "failed"
    while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    return str(error.message).strip().splitlines()[0]


def _load_outcome(record: RunRecord, sync_started_at: str) -> tuple[str, str]:
    """Landed when this process loaded the run during this sync; up to date otherwise, with
    a note when another worker loaded it during this sync."""
    if not (record.loaded_at and record.loaded_at >= sync_started_at):
        return "up to date", ""
    if record.loaded_by and not of_this_process(record.loaded_by):
        return "up to date", "landed by another worker during this sync"
    return "landed", ""


def run_sync(
    instance: dg.DagsterInstance,
    campaign_ids: Sequence[str] = (),
    listener: Listener | None = None,
    early: EarlyExports | None = None,
) -> SyncReport:
    os.environ.setdefault(*PLANNED_EVENTS_PER_ASSET)
    return SyncEngine(instance, campaign_ids, listener, early=early).run()


def open_instance() -> dg.DagsterInstance:
    """The instance at DAGSTER_HOME (set by the caller)."""
    return dg.DagsterInstance.get()


# -- runs whose process died --------------------------------------------------------------

_UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def close_runs_of_dead_workers(instance: dg.DagsterInstance) -> list[str]:
    """Earlier sync runs on this host still marked in progress although their process is gone.

    No daemon watches runs that `sync` executes in its own process, so a killed sync's runs
    would show as running forever.
    """
    closed = []
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=_UNFINISHED, tags={STARTED_BY_TAG: STARTED_BY})
    )
    for run in runs:
        worker = run.tags.get(WORKER_TAG, "")
        if not gone_from_this_host(worker):
            continue
        instance.report_run_failed(run, f"the sync process {worker} that ran it is gone")
        closed.append(run.run_id)
    return closed


__all__ = [
    "API_POOL",
    "SyncEngine",
    "SyncReport",
    "close_runs_of_dead_workers",
    "run_sync",
    "step_error_line",
]
