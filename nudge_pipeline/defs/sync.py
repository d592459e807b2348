"""The sync engine behind `nudge-pipeline sync`: discovery, partitions, then Dagster runs.

Everything is executed through Dagster on the DAGSTER_HOME instance, so the runs, partitions
and materializations show in the UI exactly as if the sensor had started them. Several
partitions go into each run (as in backfills) to amortise run start-up. Runs execute in this
process, or with `parallel` > 1 in as many worker processes at once (see run_workers).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from nudge_pipeline.defs import build_defs, progress
from nudge_pipeline.defs.assets.common import plain_metadata
from nudge_pipeline.defs.discovery import Discovery, discover
from nudge_pipeline.defs.failures import GLOBAL_CAUSES, QUOTA_EXHAUSTED, cause_of, describe
from nudge_pipeline.defs.jobs import campaign_run_job, customers_job, snapshots_job
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, CUSTOMER_GROUPS
from nudge_pipeline.defs.resources import NudgescribeResource, resources_from_env
from nudge_pipeline.defs.run_workers import (
    ChunkOutcome,
    InProcessRunner,
    ProcessRunner,
    close_runs_of_dead_workers,
    initialize_api_pool,
    open_runner,
    parallel_runs_within_api_pool,
)

NOT_ATTEMPTED = "not attempted"
# Larger than a UI backfill's runs (MAX_PARTITIONS_PER_RUN): each Dagster run costs about
# half a second of its own, and a partition that fails here sends the others of its run
# back for runs of their own rather than failing them. 200 partitions of 5,000 messages
# landed in 27 s with runs of 100 against 32 s with runs of 25.
SYNC_PARTITIONS_PER_RUN = 100


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


@dataclass(frozen=True)
class Materialized:
    run_id: str
    metadata: dict[str, Any]


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
SNAPSHOT_NAMES = ("campaigns", "campaign_runs", "customer_groups", "customer_profile_fields")


@dataclass
class Phase:
    """A job over some partitions (none: an unpartitioned job) and how to read each run."""

    name: str  # for progress events
    what: str  # subject of a failure that names no partition
    job: Any
    partitions: str | None
    keys: list[str]
    settle: Callable[[list[str], ChunkOutcome], list[str]]


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


class SyncEngine:
    def __init__(
        self,
        instance: dg.DagsterInstance,
        campaign_ids: Sequence[str] = (),
        listener: Listener | None = None,
        max_partitions_per_run: int = SYNC_PARTITIONS_PER_RUN,
        parallel: int = 1,
        worker_setup: Callable[[], None] | None = None,
    ) -> None:
        self.instance = instance
        self.campaign_ids = list(campaign_ids)
        self.listener = listener
        self.batch = max_partitions_per_run
        self.parallel = parallel_runs_within_api_pool(instance, parallel)
        self.worker_setup = worker_setup
        self.resources = resources_from_env()
        self.defs = build_defs(self.resources)
        self.report = SyncReport()
        self.stopped_by: str | None = None
        # Partitions a phase's settle sent back for a Dagster run of their own.
        self.sent_back: set[str] = set()
        self._runner: InProcessRunner | ProcessRunner | None = None

    # -- steps --------------------------------------------------------------------------

    def run(self) -> SyncReport:
        progress.set_listener(self.listener)
        try:
            close_runs_of_dead_workers(self.instance)
            initialize_api_pool(self.instance)
            # Opened first: worker processes start up while discovery and snapshots run here.
            with open_runner(
                self.defs, self.instance, self.parallel, self.listener, self.worker_setup
            ) as self._runner:
                found = self._discover()
                if found is None:
                    return self.report
                self._register(found)
                phases = [self._snapshots(), self._customers(found), self._campaign_runs(found)]
                self._run_phases(phases)
        finally:
            self._runner = None
            progress.set_listener(None)
        return self.report

    def _fail(self, cause: str, subject: str, message: str) -> None:
        self.report.failures.append(Failure(cause, subject, message))
        if cause in GLOBAL_CAUSES and self.stopped_by is None:
            self.stopped_by = cause

    def _discover(self) -> Discovery | None:
        _emit(self.listener, "phase", name="discovery")
        resource: NudgescribeResource = self.resources["nudgescribe"]
        try:
            api = resource.process_config_and_initialize()
            with api.client() as client:
                found = discover(client, api.allowed_stages(), self.campaign_ids or None)
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
            _emit(self.listener, "partitions_registered", name=name, new=len(new))

    def _run_phases(self, phases: Sequence[Phase]) -> None:
        """Run every phase's chunks, one Dagster run each, `parallel` runs at once, in order.

        A phase's `settle` reads each of its finished chunks and returns the keys that
        deserve a run of their own; those go to the front of the queue. After a failure that
        rules out every partition (quota, credentials) nothing new starts, except what
        `_may_start` allows; runs already going finish.
        """
        assert self._runner is not None
        queue = deque((phase, chunk) for phase in phases for chunk in self._chunks(phase))
        announced: set[str] = set()
        running: dict[Future[ChunkOutcome], tuple[Phase, list[str]]] = {}
        while queue or running:
            while queue and len(running) < self._runner.workers and self._may_start(queue[0][1]):
                phase, chunk = queue.popleft()
                if phase.name not in announced:
                    announced.add(phase.name)
                    _emit(self.listener, "phase", name=phase.name, total=len(phase.keys))
                future = self._runner.submit(phase.job.name, chunk or None, phase.what)
                running[future] = (phase, chunk)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                phase, chunk = running.pop(future)
                outcome = self._runner.outcome(future, chunk or None, phase.what)
                self.report.dagster_run_ids.append(outcome.run_id)
                retry = phase.settle(chunk, outcome)
                self.sent_back.update(retry)
                queue.extendleft((phase, c) for c in reversed(self._chunks(phase, retry)))
        for phase in phases:  # nothing to run: still shown, as done
            if phase.name not in announced:
                _emit(self.listener, "phase", name=phase.name, total=0)

    def _may_start(self, chunk: Sequence[str]) -> bool:
        # A spent quota rules out new exports, not landing those a stopped run completed:
        # partitions sent back for a run of their own reuse their export, publishing nothing.
        if self.stopped_by == QUOTA_EXHAUSTED and chunk:
            return set(chunk) <= self.sent_back
        return not self.stopped_by

    def _chunks(self, phase: Phase, keys: Sequence[str] | None = None) -> list[list[str]]:
        """Consecutive chunks, small enough that every worker gets one; [[]] if unpartitioned."""
        if phase.partitions is None:
            return [[]] if keys is None else []
        keys = phase.keys if keys is None else keys
        if not keys:
            return []
        size = min(self.batch, max(1, math.ceil(len(keys) / self.parallel)))
        order = self.instance.get_dynamic_partitions(phase.partitions)
        return consecutive_chunks(keys, order, size)

    def _latest_metadata(self, asset: str, key: str | None) -> dict[str, Any]:
        if key is not None:
            latest = self._latest_by_partition(asset, [key]).get(key)
            return latest.metadata if latest else {}
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset)), limit=1
        ).records
        if not records or records[0].asset_materialization is None:
            return {}
        return plain_metadata(records[0].asset_materialization.metadata)

    def _latest_by_partition(self, asset: str, keys: Sequence[str]) -> dict[str, Materialized]:
        """The latest materialization of each of `keys`, read in pages, not a query each."""
        found: dict[str, Materialized] = {}
        cursor = None
        while missing := sorted(set(keys) - found.keys()):
            page = self.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=missing),
                limit=1000,
                cursor=cursor,
            )
            for record in page.records:
                event = record.asset_materialization
                if event is not None and event.partition and event.partition not in found:
                    found[event.partition] = Materialized(
                        record.run_id, plain_metadata(event.metadata)
                    )
            if not page.has_more:
                break
            cursor = page.cursor
        return found

    def _snapshots(self) -> Phase:
        def settle(_: list[str], outcome: ChunkOutcome) -> list[str]:
            for subject, info in outcome.failed.items():
                self._fail(info["cause"], subject, info["message"])
            for name in SNAPSHOT_NAMES:
                rows = self._latest_metadata(name, None).get("dagster/row_count")
                if rows is not None:
                    self.report.snapshots[name] = int(rows)
            return []

        return Phase("snapshots", "snapshots", snapshots_job, None, [], settle)

    def _customers(self, found: Discovery) -> Phase:
        def settle(chunk: list[str], outcome: ChunkOutcome) -> list[str]:
            latest = self._latest_by_partition("customers", chunk)
            for key in chunk:
                if key in outcome.failed:
                    info = outcome.failed[key]
                    if info["cause"] != NOT_ATTEMPTED:
                        self._fail(info["cause"], f"customer group {key}", info["message"])
                    continue
                meta = latest[key].metadata if key in latest else {}
                self.report.customer_groups += 1
                self.report.customers += int(meta.get("dagster/row_count") or 0)
            _emit(self.listener, "customers_done", count=len(chunk))
            return []

        keys = found.group_partition_keys
        return Phase("customers", "customers", customers_job, CUSTOMER_GROUPS, keys, settle)

    def _campaign_runs(self, found: Discovery) -> Phase:
        outcomes: dict[str, RunOutcome] = {}
        todo: list[str] = []
        latest = self._latest_by_partition(
            "messages",
            [
                r.partition_key
                for r in found.completed_runs
                if r.partition_key and r.eligibility.eligible
            ],
        )
        for run in found.completed_runs:
            if not run.partition_key:
                continue
            outcome = RunOutcome(
                key=run.partition_key,
                campaign_id=run.campaign.campaign_id,
                run_id=run.run.run_id,
                campaign_name=run.campaign.campaign_name or "",
                stage=run.campaign.stage or "",
                state="skipped",
                reason=run.eligibility.reason,
            )
            outcomes[run.partition_key] = outcome
            if not run.eligibility.eligible:
                continue
            meta = latest[run.partition_key].metadata if run.partition_key in latest else {}
            if meta and not meta.get("skipped", False):
                outcome.state, outcome.reason = "up to date", ""
                outcome.rows = int(meta.get("dagster/row_count") or 0)
                outcome.files = int(meta.get("num_files") or 0)
            else:
                outcome.state, outcome.reason = NOT_ATTEMPTED, ""
                todo.append(run.partition_key)
        self.report.runs = list(outcomes.values())

        def settle(chunk: list[str], result: ChunkOutcome) -> list[str]:
            bystanders = []
            latest = self._latest_by_partition("messages", chunk)
            for key in chunk:
                outcome = outcomes[key]
                if key in result.failed:
                    info = result.failed[key]
                    if info["cause"] == NOT_ATTEMPTED:
                        continue
                    outcome.state, outcome.reason = "failed", info["cause"]
                    self._fail(info["cause"], key, info["message"])
                    _emit(self.listener, "run_done", key=key, state="failed")
                    continue
                landed = latest.get(key)
                meta = landed.metadata if landed else {}
                if meta and not meta.get("skipped") and landed and landed.run_id == result.run_id:
                    outcome.state = "landed"
                    outcome.rows = int(meta.get("dagster/row_count") or 0)
                    outcome.files = int(meta.get("num_files") or 0)
                    _emit(self.listener, "run_done", key=key, state="landed")
                elif key not in self.sent_back:
                    bystanders.append(key)
                else:
                    export = self._latest_metadata("message_export", key)
                    if export.get("skipped"):
                        # Run on its own and still skipped, e.g. its campaign was deleted
                        # since discovery: nothing to land, and the export says why.
                        outcome.state, outcome.reason = "skipped", str(export["skipped_reason"])
                        _emit(self.listener, "run_done", key=key, state="skipped")
                        continue
                    outcome.state, outcome.reason = "failed", "not landed after a retry"
                    self._fail("not landed", key, "a failure elsewhere in its run stopped it")
            # Partitions held up by another partition's failure get a run of their own.
            return bystanders

        return Phase(
            "campaign_runs", "campaign runs", campaign_run_job, CAMPAIGN_RUNS, todo, settle
        )


def run_sync(
    instance: dg.DagsterInstance,
    campaign_ids: Sequence[str] = (),
    listener: Listener | None = None,
    parallel: int = 1,
    worker_setup: Callable[[], None] | None = None,
) -> SyncReport:
    engine = SyncEngine(
        instance, campaign_ids, listener, parallel=parallel, worker_setup=worker_setup
    )
    return engine.run()


def open_instance() -> dg.DagsterInstance:
    """The instance at DAGSTER_HOME (set by the caller)."""
    return dg.DagsterInstance.get()
