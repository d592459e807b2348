"""LandingEngine: many campaign runs side by side, each on its own clock.

The vendor's export generation is the slow part of a sync, so every eligible run is
claimed and published at once (up to `exports_in_flight`), all exports are polled from one
scheduler, and each run moves on the moment its own export completes: its files download
(at most `parallel_downloads` at a time, shared by all runs) and its warehouse replace
commits as soon as they are in. No run waits for another's files.

One coordinator thread (the caller's, inside `land()`) owns every run's state; the work
runs on thread pools and reports back through a queue. Outcomes are yielded as runs finish.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nudge_pipeline import crashpoints
from nudge_pipeline.lake import Lake
from nudge_pipeline.landing import files
from nudge_pipeline.landing.claim import Claim, ClaimLostError, ClaimStore
from nudge_pipeline.landing.failures import GLOBAL_CAUSES, cause_of, describe
from nudge_pipeline.landing.keys import campaign_run_key
from nudge_pipeline.landing.record import LandedFile, RunRecord, RunRecordStore, RunState, now_iso
from nudge_pipeline.nudgescribe import errors as api
from nudge_pipeline.nudgescribe.client import NudgescribeClient
from nudge_pipeline.nudgescribe.export import ExportJob
from nudge_pipeline.nudgescribe.models import ExportResult
from nudge_pipeline.settings import Settings
from nudge_pipeline.warehouse import Warehouse

log = logging.getLogger(__name__)

# Claims, publishes, polls and record writes are short; these threads only wait on HTTP.
CONTROL_WORKERS = 8


class Step(StrEnum):
    EXPORT = "export"  # publish, or reuse an export, and wait until it is complete
    FILES = "files"  # download each CSV file into the lake as Parquet
    LOAD = "load"  # replace the run's rows in the warehouse


ALL_STEPS = frozenset(Step)


class Result(StrEnum):
    LANDED = "landed"  # this call did the steps it was asked for
    UP_TO_DATE = "up to date"  # loaded before: nothing to do
    BY_OTHER = "landed by another worker"  # another claim holder landed it meanwhile
    SKIPPED = "skipped"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"  # a failure that rules out every run stopped it first


@dataclass(frozen=True)
class RunToLand:
    campaign_id: str
    run_id: str
    eligible: bool = True
    reason: str = ""  # why it is not eligible
    message_count: int | None = None  # as the run history reports it
    # For people reading runs, tags and summaries: not used to land.
    campaign_name: str = ""
    workspace_name: str = ""
    stage: str = ""
    run_number: int | None = None

    @property
    def key(self) -> str:
        return campaign_run_key(self.campaign_id, self.run_id)


@dataclass(frozen=True)
class RunOutcome:
    run: RunToLand
    result: Result
    record: RunRecord
    published: bool = False  # this call's publish was accepted
    reused_export: bool = False
    files_downloaded: int = 0
    parquet_rows: int | None = None
    table_rows: int | None = None
    load_seconds: float | None = None  # the warehouse replace, in its transaction
    error: BaseException | None = None

    @property
    def cause(self) -> str:
        if self.result is Result.NOT_ATTEMPTED:
            return str(Result.NOT_ATTEMPTED)
        return self.record.cause if self.error is None else cause_of(self.error)

    @property
    def message(self) -> str:
        return self.record.reason or (describe(self.error) if self.error is not None else "")


@dataclass(frozen=True)
class EngineSettings:
    parallel_downloads: int = 4
    exports_in_flight: int = 32
    export_type: str = "utf8"
    settle_seconds: float | None = None  # None: the client's
    claim_lease_seconds: float = 120.0
    # How often a run claimed by another worker looks at that worker's progress (lake reads).
    watch_seconds: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineSettings:
        return cls(
            parallel_downloads=settings.parallel_downloads,
            exports_in_flight=settings.exports_in_flight,
            export_type=settings.export_type,
            settle_seconds=settings.export_settle_seconds,
            claim_lease_seconds=settings.claim_lease_seconds,
        )


Listener = Callable[[str, dict[str, Any]], None]

_API_SLOTS: dict[int, threading.BoundedSemaphore] = {}
_API_SLOTS_LOCK = threading.Lock()


def api_slots(limit: int) -> threading.BoundedSemaphore:
    """The process's slots for export requests: every engine in it shares the same limit."""
    with _API_SLOTS_LOCK:
        return _API_SLOTS.setdefault(limit, threading.BoundedSemaphore(limit))


def holder_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_on_this_host(label: str) -> int | None:
    """The pid a `host:pid[:…]` label names, when its host is this one."""
    host, _, rest = label.partition(":")
    pid = rest.partition(":")[0]
    return int(pid) if host == socket.gethostname() and pid.isdigit() else None


def gone_from_this_host(label: str) -> bool:
    """True when `label` names a process of this host that no longer runs."""
    pid = _pid_on_this_host(label)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: alive
        return False
    return False


def of_this_process(label: str) -> bool:
    """True when `label` names this very process."""
    return _pid_on_this_host(label) == os.getpid()


def holder_is_gone(claim: Claim) -> bool:
    """A claim of a killed process on this host is free at once, without its lease."""
    return gone_from_this_host(claim.holder)


class LandingEngine:
    def __init__(
        self,
        client: NudgescribeClient,
        lake: Lake,
        warehouse: Warehouse | None,
        settings: EngineSettings | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.client = client
        self.lake = lake
        self.warehouse = warehouse
        self.settings = settings or EngineSettings()
        self.listener = listener
        self.holder = holder_label()
        self.records = RunRecordStore(lake)
        self.claims = ClaimStore(lake, lease_seconds=self.settings.claim_lease_seconds)

    def land(
        self,
        runs: Iterable[RunToLand],
        steps: frozenset[Step] = ALL_STEPS,
        stopped_since: str | None = None,
    ) -> Iterator[RunOutcome]:
        """Land `runs` through `steps`; yields each run's outcome as soon as it is final.

        `stopped_since` (ISO time): a publish refused for every run (a spent quota) by any
        worker since then stops this call's publishes too, as if it had happened here.
        """
        if Step.LOAD in steps and self.warehouse is None:
            raise ValueError("loading needs a warehouse")
        session = _Session(self, list(dict.fromkeys(runs)), steps, stopped_since)
        # The coordinator runs in a thread of its own, so a slow consumer (Dagster storing
        # each event) never holds back the runs still landing.
        thread = threading.Thread(target=session.run, name="landing-coordinator", daemon=True)
        thread.start()
        try:
            while (item := session.outcomes.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, RunOutcome)
                yield item
        finally:
            session.cancelled.set()
            thread.join()


@dataclass(eq=False)
class _Landing:
    """One run's progress within a session; read and written by the coordinator only."""

    run: RunToLand
    record: RunRecord
    claim: Claim | None = None
    job: ExportJob | None = None
    holds_export_slot: bool = False
    published: bool = False
    reused_export: bool = False
    todo: int = 0
    downloaded: int = 0
    landed: dict[int, LandedFile] = field(default_factory=dict)
    file_error: BaseException | None = None
    failed_file: int = -1
    abandoned: bool = False  # read by download threads: stop fetching this run's files
    load_seconds: float | None = None
    finished: bool = False


class _Session:
    def __init__(
        self,
        engine: LandingEngine,
        runs: list[RunToLand],
        steps: frozenset[Step],
        stopped_since: str | None,
    ) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.steps = steps
        self.waiting = deque(_Landing(r, RunRecord(r.campaign_id, r.run_id)) for r in runs)
        self.landings = list(self.waiting)
        self.unfinished = len(self.waiting)
        self.exports_in_flight = 0
        self.stopped_by: BaseException | None = None
        self.stopped_since = stopped_since
        self.events: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.Queue()
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self.done: list[RunOutcome] = []
        self.outcomes: queue.Queue[RunOutcome | BaseException | object] = queue.Queue()
        self.cancelled = threading.Event()
        self.api_slots = api_slots(self.settings.parallel_downloads)
        self.control = ThreadPoolExecutor(CONTROL_WORKERS, thread_name_prefix="landing")
        # Publishes go out one at a time, each only if none before it was refused for every
        # run (a spent quota): a refused publish is never followed by another. The `pages`
        # call before each publish (reuse or adopt) needs no such order, so runs in parallel.
        self.publish_lock = threading.Lock()
        self.spent = threading.Event()
        self.downloads = ThreadPoolExecutor(
            self.settings.parallel_downloads, thread_name_prefix="download"
        )
        self.loader = ThreadPoolExecutor(1, thread_name_prefix="load")
        self.ready_to_load: list[_Landing] = []
        self.loading = False

    # -- the coordinator loop ----------------------------------------------------------

    def run(self) -> None:
        """The coordinator loop; each outcome goes to `outcomes` as soon as it is final."""
        try:
            self._every(self.settings.claim_lease_seconds / 3, self._renew_claims)
            while self.unfinished and not self.cancelled.is_set():
                self._start_waiting()
                try:
                    callback, args = self.events.get(timeout=min(self._next_timer_in(), 1.0))
                except queue.Empty:
                    pass
                else:
                    callback(*args)
                self._fire_due_timers()
                while self.done:
                    self.outcomes.put(self.done.pop(0))
        except BaseException as exc:  # handed to the consumer
            self.outcomes.put(exc)
        finally:
            for pool in (self.control, self.downloads, self.loader):
                pool.shutdown(wait=True, cancel_futures=True)
            for landing in self.landings:
                if landing.claim is not None:
                    self._release(landing)
            self.outcomes.put(_DONE)

    def _submit(
        self,
        pool: ThreadPoolExecutor,
        work: Callable[..., Any],
        args: tuple[Any, ...],
        then: Callable[[Any, BaseException | None], None],
    ) -> None:
        """Run `work(*args)` on `pool`; `then(result, error)` runs later on the coordinator."""

        def task() -> None:
            try:
                result, error = work(*args), None
            except BaseException as exc:  # handed to the coordinator, which decides
                result, error = None, exc
            self.events.put((then, (result, error)))

        pool.submit(task)

    def _at(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self._sequence), action))

    def _every(self, period: float, action: Callable[[], None]) -> None:
        def repeat() -> None:
            action()
            self._at(period, repeat)

        self._at(period, repeat)

    def _next_timer_in(self) -> float:
        return max(self.timers[0][0] - time.monotonic(), 0.0) if self.timers else 1.0

    def _fire_due_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, action = heapq.heappop(self.timers)
            action()

    def _emit(self, event: str, **data: Any) -> None:
        if self.engine.listener is not None:
            self.engine.listener(event, data)

    # -- starting: skip, claim or watch ------------------------------------------------

    def _start_waiting(self) -> None:
        while self.waiting and self.exports_in_flight < self.settings.exports_in_flight:
            landing = self.waiting.popleft()
            if not landing.run.eligible:
                self._submit(
                    self.control, self._skip_ineligible, (landing,), self._finished(landing)
                )
                continue
            landing.holds_export_slot = True
            self.exports_in_flight += 1
            self._open(landing)

    def _skip_ineligible(self, landing: _Landing) -> RunOutcome:
        record = self.engine.records.get_or_new(landing.run.campaign_id, landing.run.run_id)
        if record.state is RunState.LOADED:
            return RunOutcome(landing.run, Result.UP_TO_DATE, record)
        record = self.engine.records.put(
            record.moved(RunState.SKIPPED, reason=landing.run.reason, attempted_at=now_iso())
        )
        return RunOutcome(landing.run, Result.SKIPPED, record)

    def _open(self, landing: _Landing) -> None:
        def claim_and_read() -> tuple[Claim | None, RunRecord]:
            run = landing.run
            claim = self.engine.claims.acquire(
                run.campaign_id,
                run.run_id,
                self.engine.holder,
                abandoned=holder_is_gone,
                # Only a run's claim holder writes its record: the dead holder's temps go.
                on_takeover=lambda _: self.engine.records.clear_dead_writes(
                    run.campaign_id, run.run_id
                ),
            )
            record = self.engine.records.get_or_new(run.campaign_id, run.run_id)
            if claim is not None and record.state in (RunState.FAILED, RunState.SKIPPED):
                record = self.engine.records.put(record.moved(RunState.CLAIMED))
            return claim, record

        def opened(
            result: tuple[Claim | None, RunRecord] | None, error: BaseException | None
        ) -> None:
            if error is not None or result is None:
                return self._fail(landing, error or RuntimeError("no claim answer"))
            landing.claim, landing.record = result
            if landing.claim is None:
                self._at(self.settings.watch_seconds, lambda: self._watch(landing))
            elif landing.record.state is RunState.LOADED and self.steps == ALL_STEPS:
                self._unless_held(landing)
            else:
                self._advance(landing)

        self._submit(self.control, claim_and_read, (), opened)

    def _unless_held(self, landing: _Landing) -> None:
        """A run the lake records as loaded: done if this warehouse holds it, which is the
        case when another worker loaded it while this one waited; else (a new warehouse on
        the same lake) loaded again from the lake. Asked on the loader's thread, the only
        one that uses the warehouse."""
        warehouse = self.engine.warehouse
        assert warehouse is not None
        run = (landing.run.campaign_id, landing.run.run_id)

        def held(found: set[tuple[str, str]], error: BaseException | None) -> None:
            if error is not None:
                return self._fail(landing, error)
            if run in found:
                return self._finish(landing, Result.UP_TO_DATE)
            self._advance(landing)

        self._submit(self.loader, warehouse.loaded_runs, ([run],), held)

    def _watch(self, landing: _Landing) -> None:
        """Another worker holds the claim: follow its record, take over if its lease lapses."""
        run = landing.run

        def look() -> tuple[RunRecord, Claim | None]:
            return (
                self.engine.records.get_or_new(run.campaign_id, run.run_id),
                self.engine.claims.current(run.campaign_id, run.run_id),
            )

        def seen(
            result: tuple[RunRecord, Claim | None] | None, error: BaseException | None
        ) -> None:
            if error is not None or result is None:
                return self._fail(landing, error or RuntimeError("no record answer"))
            record, claim = result
            landing.record = record
            if self._steps_satisfied(record):
                return self._finish(landing, Result.BY_OTHER)
            if claim is None or not claim.is_live(time.time()) or holder_is_gone(claim):
                return self._open(landing)
            self._at(self.settings.watch_seconds, lambda: self._watch(landing))

        self._submit(self.control, look, (), seen)

    def _steps_satisfied(self, record: RunRecord) -> bool:
        if Step.LOAD in self.steps:
            return record.state is RunState.LOADED
        if Step.FILES in self.steps:
            return record.state in (RunState.FILES_LANDED, RunState.LOADED)
        return record.export_complete

    # -- moving a claimed run on ---------------------------------------------------------

    def _advance(self, landing: _Landing) -> None:
        record = landing.record
        if self.steps == {Step.LOAD}:  # a reload from the lake: no API call
            if record.state in (RunState.FILES_LANDED, RunState.LOADED):
                return self._queue_load(landing)
            return self._skip(landing, "no landed files: materialize message_files first")
        if not record.export_complete:
            if Step.EXPORT not in self.steps:
                return self._skip(landing, "no completed export: materialize message_export first")
            if self.stopped_by is not None:
                return self._finish(landing, Result.NOT_ATTEMPTED, self.stopped_by)
            return self._begin_export(landing)
        self._release_export_slot(landing)
        landing.reused_export = not landing.published
        if Step.FILES in self.steps:
            return self._plan_files(landing)
        if Step.LOAD in self.steps:
            return self._queue_load(landing)
        self._finish(landing, Result.LANDED)

    def _publishes_refused(self) -> bool:
        """A publish before this one was refused for every run, here or (since
        `stopped_since`) by another worker of the same sync."""
        if self.spent.is_set():
            return True
        if self.stopped_since is None:
            return False
        return self.engine.records.account_stopped_since(self.stopped_since) is not None

    def _begin_export(self, landing: _Landing) -> None:
        run, records = landing.run, self.engine.records

        def remember(job_id: str) -> None:
            # Durable before polling: a crash from here on resumes this job, never re-publishes.
            landing.record = records.put(
                landing.record.moved(RunState.PUBLISHED, job_id=job_id, attempted_at=now_iso())
            )

        job = ExportJob(
            self.engine.client,
            run.campaign_id,
            run.run_id,
            known_job_id=landing.record.job_id,
            on_job_id=remember,
            settle_seconds=self.settings.settle_seconds,
            publish_guard=self._one_publish_at_a_time,
        )
        landing.job = job

        def begin() -> ExportResult | None:
            if self._publishes_refused():
                raise _NotAttempted()
            try:
                with self.api_slots:
                    return job.begin()
            except Exception as exc:
                if cause_of(exc) in GLOBAL_CAUSES:
                    self.spent.set()
                    records.stop_account(cause_of(exc), describe(exc))
                raise

        def begun(result: ExportResult | None, error: BaseException | None) -> None:
            landing.published = job.published
            if isinstance(error, _NotAttempted):
                return self._finish(landing, Result.NOT_ATTEMPTED, self.stopped_by)
            if error is not None:
                return self._fail(landing, error)
            if result is not None:
                return self._exported(landing, result)
            self._at(job.next_poll_in(), lambda: self._poll(landing))

        self._submit(self.control, begin, (), begun)

    @contextlib.contextmanager
    def _one_publish_at_a_time(self) -> Iterator[None]:
        with self.publish_lock:
            if self._publishes_refused():
                raise _NotAttempted()
            yield

    def _poll(self, landing: _Landing) -> None:
        job = landing.job
        assert job is not None

        def poll() -> ExportResult | None:
            with self.api_slots:
                return job.poll()

        def polled(result: ExportResult | None, error: BaseException | None) -> None:
            if error is not None:
                return self._fail(landing, error)
            if result is not None:
                return self._exported(landing, result)
            self._at(job.next_poll_in(), lambda: self._poll(landing))

        self._submit(self.control, poll, (), polled)

    def _exported(self, landing: _Landing, result: ExportResult) -> None:
        self._emit("export_ready", key=landing.run.key, num_files=result.num_files)

        def save() -> RunRecord:
            return self.engine.records.put(
                landing.record.moved(
                    RunState.EXPORTED,
                    job_id=result.job_id,
                    num_files=result.num_files,
                    exported_at=now_iso(),
                    files={},
                )
            )

        self._submit(self.control, save, (), self._then(landing, self._advance))

    def _then(
        self, landing: _Landing, step: Callable[[_Landing], None]
    ) -> Callable[[RunRecord | None, BaseException | None], None]:
        """A callback that keeps the saved record and moves on with `step`."""

        def after(record: RunRecord | None, error: BaseException | None) -> None:
            if error is not None or record is None:
                return self._fail(landing, error or RuntimeError("record not saved"))
            landing.record = record
            step(landing)

        return after

    # -- files -------------------------------------------------------------------------

    def _plan_files(self, landing: _Landing) -> None:
        def planned(
            result: tuple[dict[int, LandedFile], list[int]] | None, error: BaseException | None
        ) -> None:
            if error is not None or result is None:
                return self._fail(landing, error or RuntimeError("no file plan"))
            landing.landed, todo = result
            landing.todo = len(todo)
            self._emit(
                "files_planned",
                key=landing.run.key,
                total=len(todo) + len(landing.landed),
                already=len(landing.landed),
            )
            if not todo:
                return self._files_in(landing)
            for file_num in todo:
                self._submit(
                    self.downloads,
                    self._download,
                    (landing, file_num),
                    self._file_done(landing, file_num),
                )

        self._submit(self.control, files.plan_files, (self.engine.lake, landing.record), planned)

    def _download(self, landing: _Landing, file_num: int) -> LandedFile | None:
        if landing.abandoned:
            return None
        with self.api_slots:
            _, landed = files.download_file(
                self.engine.client,
                self.engine.lake,
                landing.record,
                file_num,
                self.settings.export_type,
            )
        return landed

    def _file_done(
        self, landing: _Landing, file_num: int
    ) -> Callable[[LandedFile | None, BaseException | None], None]:
        def done(landed: LandedFile | None, error: BaseException | None) -> None:
            landing.todo -= 1
            if error is not None and landing.file_error is None:
                landing.file_error, landing.failed_file = error, file_num
                landing.abandoned = True
                self._note_global(error)
            elif landed is not None:
                landing.landed[file_num] = landed
                landing.downloaded += 1
                self._emit("file_landed", key=landing.run.key, rows=landed.row_count)
            if landing.todo == 0:
                if landing.file_error is not None:
                    subject = f"export file {landing.failed_file}"
                    return self._fail(landing, landing.file_error, subject, discard_files=True)
                self._files_in(landing)

        return done

    def _files_in(self, landing: _Landing) -> None:
        def save() -> RunRecord:
            self.engine.lake.sync()
            record = self.engine.records.put(
                landing.record.moved(RunState.FILES_LANDED, files=dict(landing.landed))
            )
            crashpoints.reached(crashpoints.BETWEEN_LAKE_AND_WAREHOUSE)
            return record

        def next_step(landing: _Landing) -> None:
            if Step.LOAD in self.steps:
                return self._queue_load(landing)
            self._finish(landing, Result.LANDED)

        self._submit(self.control, save, (), self._then(landing, next_step))

    # -- loads -------------------------------------------------------------------------

    def _queue_load(self, landing: _Landing) -> None:
        self.ready_to_load.append(landing)
        self._kick_loader()

    def _kick_loader(self) -> None:
        if self.loading or not self.ready_to_load:
            return
        batch, self.ready_to_load = self.ready_to_load, []
        self.loading = True
        warehouse = self.engine.warehouse
        assert warehouse is not None

        def loaded(outcomes: Any, error: BaseException | None) -> None:
            self.loading = False
            for landing in batch:
                key = (landing.run.campaign_id, landing.run.run_id)
                outcome = error if error is not None else outcomes[key]
                if isinstance(outcome, BaseException):
                    self._fail(landing, outcome)
                else:
                    self._loaded(landing, *outcome)
            self._kick_loader()

        records = [landing.record for landing in batch]
        self._submit(self.loader, files.load_runs, (warehouse, self.engine.lake, records), loaded)

    def _loaded(
        self, landing: _Landing, table_rows: int, parquet_rows: int, seconds: float
    ) -> None:
        def save() -> RunRecord:
            return self.engine.records.put(
                landing.record.moved(
                    RunState.LOADED,
                    loaded_rows=table_rows,
                    loaded_at=now_iso(),
                    loaded_by=self.engine.holder,
                )
            )

        def finish(landing: _Landing) -> None:
            landing.load_seconds = seconds
            self._finish(landing, Result.LANDED, parquet_rows=parquet_rows, table_rows=table_rows)

        self._submit(self.control, save, (), self._then(landing, finish))

    # -- endings -----------------------------------------------------------------------

    def _skip(self, landing: _Landing, reason: str) -> None:
        self._finish(landing, Result.SKIPPED, reason=reason)

    def _note_global(self, error: BaseException) -> None:
        if self.stopped_by is None and cause_of(error) in GLOBAL_CAUSES:
            self.stopped_by = error

    def _fail(
        self,
        landing: _Landing,
        error: BaseException,
        subject: str = "",
        *,
        discard_files: bool = False,
    ) -> None:
        self._note_global(error)
        if isinstance(error, api.ExportFailedError):
            # The server's job is dead: the next attempt asks `pages` and publishes anew.
            landing.record = landing.record.moved(landing.record.state, job_id=None)

        def save() -> RunRecord:
            if discard_files:
                files.discard_files(self.engine.lake, landing.record)
            return self.engine.records.put(
                landing.record.moved(
                    RunState.FAILED,
                    cause=cause_of(error),
                    reason=_about(subject, describe(error)),
                    files={} if discard_files else landing.record.files,
                    attempted_at=now_iso(),
                )
            )

        def saved(record: RunRecord | None, save_error: BaseException | None) -> None:
            if record is not None:
                landing.record = record
            self._finish(landing, Result.FAILED, error)

        self._submit(self.control, save, (), saved)

    def _finished(
        self, landing: _Landing
    ) -> Callable[[RunOutcome | None, BaseException | None], None]:
        def done(outcome: RunOutcome | None, error: BaseException | None) -> None:
            if error is not None or outcome is None:
                return self._finish(landing, Result.FAILED, error or RuntimeError("no outcome"))
            landing.record = outcome.record
            self._finish(landing, outcome.result)

        return done

    def _finish(
        self,
        landing: _Landing,
        result: Result,
        error: BaseException | None = None,
        *,
        reason: str = "",
        parquet_rows: int | None = None,
        table_rows: int | None = None,
    ) -> None:
        if landing.finished:
            return
        landing.finished = True
        self._release_export_slot(landing)
        if landing.claim is not None:
            self._submit(self.control, self._release, (landing,), lambda *_: None)
        record = landing.record
        if reason:
            record = record.moved(record.state, reason=reason)
        self.unfinished -= 1
        self.done.append(
            RunOutcome(
                landing.run,
                result,
                record,
                published=landing.published,
                reused_export=landing.reused_export,
                files_downloaded=landing.downloaded,
                parquet_rows=parquet_rows,
                table_rows=table_rows,
                load_seconds=landing.load_seconds,
                error=error,
            )
        )
        self._emit("run_done", key=landing.run.key, state=str(result))

    def _release_export_slot(self, landing: _Landing) -> None:
        if landing.holds_export_slot:
            landing.holds_export_slot = False
            self.exports_in_flight -= 1

    def _release(self, landing: _Landing) -> None:
        claim, landing.claim = landing.claim, None
        if claim is not None:
            try:
                self.engine.claims.release(claim)
            except Exception as exc:  # the lease runs out by itself
                log.warning("%s: claim not released: %s", landing.run.key, describe(exc))

    def _renew_claims(self) -> None:
        held: list[tuple[_Landing, Claim]] = [
            (landing, landing.claim)
            for landing in self.landings
            if landing.claim and not landing.finished
        ]

        def renew() -> dict[int, Claim | BaseException]:
            renewed: dict[int, Claim | BaseException] = {}
            for index, (_, claim) in enumerate(held):
                try:
                    renewed[index] = self.engine.claims.renew(claim)
                except Exception as exc:
                    renewed[index] = exc
            return renewed

        def renewed(
            result: dict[int, Claim | BaseException] | None, error: BaseException | None
        ) -> None:
            for index, outcome in (result or {}).items():
                landing = held[index][0]
                if landing.finished or landing.claim is None:
                    continue
                if isinstance(outcome, ClaimLostError):
                    landing.claim = None
                    landing.abandoned = True
                    self._fail(landing, outcome)
                elif isinstance(outcome, Claim):
                    landing.claim = outcome

        if held:
            self._submit(self.control, renew, (), renewed)


_DONE = object()


class _NotAttempted(Exception):
    """A publish not made, because one before it was refused for every run."""


def _about(subject: str, message: str) -> str:
    """The message, with the part of the run at fault named once."""
    return f"{subject}: {message}" if subject and subject not in message else message
