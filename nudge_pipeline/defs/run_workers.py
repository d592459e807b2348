"""Where `sync` executes its Dagster runs: in its own process, or in worker processes.

With one worker, runs execute in the calling process, one after another. With several, each
worker is a separate process (spawned, not forked: Dagster, SQLAlchemy and the HTTP pools
hold threads and sockets that must not be copied). A worker opens the DAGSTER_HOME instance
and builds the definitions once, then executes one run per chunk of partitions. Runs share
only what is built for sharing: the instance database (which also holds the pool slots),
the lake and the warehouse. Progress events of the assets travel back over a queue.

Pool slots are claimed per step in the instance database by Dagster's own executor loop,
so the `nudgescribe_api` limit holds across these processes as it does across run pods.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import forkserver
from typing import Any

import dagster as dg

from nudge_pipeline.defs import build_defs, progress
from nudge_pipeline.defs.assets.common import API_POOL
from nudge_pipeline.defs.assets.messages import FAILURES_KEY
from nudge_pipeline.defs.failures import cause_of, describe
from nudge_pipeline.defs.schedules import range_tags

QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
STARTED_BY_TAG = "nudge/started_by"
STARTED_BY = "nudge-pipeline sync"
# host:pid of the process executing the run, so a later sync can tell a dead run from a live one.
WORKER_TAG = "nudge/worker"
WORKER_DIED = "worker process died"
WORKER_PRELOAD = "nudge_pipeline.defs.worker_preload"

Listener = Callable[[str, dict[str, Any]], None]
FailuresByKey = dict[str, dict[str, str]]


@dataclass
class ChunkOutcome:
    """One Dagster run over a chunk: its run id and the failures per partition key."""

    run_id: str
    failed: FailuresByKey = field(default_factory=dict)


def worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_chunk(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    keys: Sequence[str] | None,
    what: str,
    run_id: str,
) -> ChunkOutcome:
    """Run `job_name` over a consecutive range of partitions; failures per partition key."""
    tags = range_tags(keys[0], keys[-1]) if keys else {}
    try:
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance,
            run_id=run_id,
            tags={**tags, STARTED_BY_TAG: STARTED_BY, WORKER_TAG: worker_label()},
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
    except Exception as exc:  # the run could not even start
        cause = {"cause": cause_of(exc), "message": describe(exc)}
        return ChunkOutcome(run_id, {k: dict(cause) for k in keys or [what]})
    failed: FailuresByKey = {}
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        per_key = None
        if data.user_failure_data is not None:
            entry = data.user_failure_data.metadata.get(FAILURES_KEY)
            per_key = getattr(entry, "value", None)
        if isinstance(per_key, dict):
            for key, info in per_key.items():
                failed.setdefault(key, dict(info))
        else:
            message = data.error.message.strip().splitlines()[0] if data.error else "failed"
            for key in keys or [what]:
                failed.setdefault(key, {"cause": "unexpected error", "message": message})
    return ChunkOutcome(result.run_id, failed)


class InProcessRunner:
    """Runs execute here, one at a time, when submitted; progress goes straight to the listener."""

    workers = 1

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs = defs
        self.instance = instance

    def submit(self, job_name: str, keys: Sequence[str] | None, what: str) -> Future[ChunkOutcome]:
        future: Future[ChunkOutcome] = Future()
        run_id = str(uuid.uuid4())
        future.set_result(execute_chunk(self.defs, self.instance, job_name, keys, what, run_id))
        return future

    def outcome(
        self, future: Future[ChunkOutcome], keys: Sequence[str] | None, what: str
    ) -> ChunkOutcome:
        return future.result()

    def close(self) -> None:
        pass


# -- worker processes ---------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _start_worker(
    events: Any, setup: Callable[[], None] | None, environment: dict[str, str]
) -> None:
    # The fork server keeps the environment it started with; the settings are this sync's.
    os.environ.clear()
    os.environ.update(environment)
    if setup is not None:
        setup()
    _worker["instance"] = dg.DagsterInstance.get()
    _worker["defs"] = build_defs()
    progress.set_listener(lambda event, data: events.put((event, data)))


def _run_in_worker(
    job_name: str, keys: Sequence[str] | None, what: str, run_id: str
) -> ChunkOutcome:
    return execute_chunk(_worker["defs"], _worker["instance"], job_name, keys, what, run_id)


class ProcessRunner:
    """Runs execute in `workers` forked processes, at most one run per process at a time."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        workers: int,
        listener: Listener | None,
        setup: Callable[[], None] | None = None,
    ) -> None:
        self.instance = instance
        self.workers = workers
        context = multiprocessing.get_context("forkserver")
        # Workers fork from a clean server process that has imported Dagster and the assets
        # once, instead of each importing them again (seconds of CPU per worker).
        context.set_forkserver_preload([WORKER_PRELOAD])
        self._events: Any = context.Queue()
        self._listener = listener
        self._relay = threading.Thread(target=self._relay_events, name="progress", daemon=True)
        self._relay.start()
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self._events, setup, dict(os.environ)),
        )
        self._run_ids: dict[Future[ChunkOutcome], str] = {}
        # The server imports its preload now, in the background, not at the first run.
        forkserver.ensure_running()

    def _relay_events(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            if self._listener is not None:
                # A display problem must not stop the relay: workers wait for it to drain.
                with contextlib.suppress(Exception):
                    self._listener(*item)

    def submit(self, job_name: str, keys: Sequence[str] | None, what: str) -> Future[ChunkOutcome]:
        # The run id is chosen here, so a run whose worker died can still be closed below.
        run_id = str(uuid.uuid4())
        try:
            future = self._pool.submit(_run_in_worker, job_name, keys, what, run_id)
        except BrokenProcessPool as exc:  # an earlier worker died; report it per chunk
            future = Future()
            future.set_exception(exc)
        self._run_ids[future] = run_id
        return future

    def outcome(
        self, future: Future[ChunkOutcome], keys: Sequence[str] | None, what: str
    ) -> ChunkOutcome:
        """The chunk's outcome; a dead worker fails its chunk and gives back its pool slots."""
        run_id = self._run_ids.pop(future)
        try:
            return future.result()
        except Exception as exc:
            close_dead_run(self.instance, run_id, describe(exc))
            failure = {"cause": WORKER_DIED, "message": describe(exc)}
            return ChunkOutcome(run_id, {k: dict(failure) for k in keys or [what]})

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._events.put(None)
        self._relay.join(timeout=10)


@contextmanager
def open_runner(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    workers: int,
    listener: Listener | None,
    setup: Callable[[], None] | None = None,
) -> Iterator[InProcessRunner | ProcessRunner]:
    runner: InProcessRunner | ProcessRunner = (
        InProcessRunner(defs, instance)
        if workers <= 1
        else ProcessRunner(instance, workers, listener, setup)
    )
    try:
        yield runner
    finally:
        runner.close()


def api_pool_limit(instance: dg.DagsterInstance) -> int | None:
    """The `nudgescribe_api` limit: set explicitly in the instance, else the default, or None."""
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for pool in storage.get_pool_limits():
            if pool.name == API_POOL and not pool.from_default:
                return pool.limit
    return instance.get_concurrency_config().pool_config.default_pool_limit


def initialize_api_pool(instance: dg.DagsterInstance) -> None:
    """Create the pool's limit row once, here, before parallel runs would race to create it.

    Dagster 1.13 creates it on a pool's first claim; on PostgreSQL, two first claims at once
    fail one run (the losing insert is followed by an update in the aborted transaction).
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or api_pool_limit(instance) is None:
        return
    if API_POOL not in {pool.name for pool in storage.get_pool_limits()}:
        storage.initialize_concurrency_limit_to_default(API_POOL)


def parallel_runs_within_api_pool(instance: dg.DagsterInstance, wanted: int) -> int:
    """How many runs `sync` may execute at once without the API pool being exceeded.

    execute_in_process claims pool slots per step (Dagster's InstanceConcurrencyContext)
    unless the pool granularity is `run` or the storage has no pool tables. In those two
    cases Dagster enforces the pool only when its daemon dequeues runs, which `sync` does not
    go through. A sync run executes one step at a time, so holding the number of runs to the
    pool limit keeps the bound there too.
    """
    limit = api_pool_limit(instance)
    if limit is None or wanted <= 1:
        return max(1, wanted)
    granularity = instance.get_concurrency_config().pool_config.pool_granularity
    per_step = instance.event_log_storage.supports_global_concurrency_limits and (
        granularity is None or granularity.value == "op"
    )
    return wanted if per_step else max(1, min(wanted, limit))


# -- runs whose process died --------------------------------------------------------------

_UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def close_dead_run(instance: dg.DagsterInstance, run_id: str, reason: str) -> None:
    """Mark an unfinished run failed and free the pool slots it still holds."""
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status in _UNFINISHED:
        instance.report_run_failed(run, f"{WORKER_DIED}: {reason}")
    # Slots are claimed per step and freed when the step ends; a killed process ends none.
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def close_runs_of_dead_workers(instance: dg.DagsterInstance) -> list[str]:
    """Earlier sync runs on this host still marked in progress although their process is gone.

    Without this, the pool slots of a sync killed mid-step stay claimed and every later run
    waits for them forever (no daemon watches runs started by `sync`).
    """
    host = socket.gethostname()
    closed = []
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=_UNFINISHED, tags={STARTED_BY_TAG: STARTED_BY})
    )
    for run in runs:
        worker_host, _, pid = run.tags.get(WORKER_TAG, "").rpartition(":")
        if worker_host != host or not pid.isdigit() or _process_alive(int(pid)):
            continue
        close_dead_run(instance, run.run_id, f"process {pid} is gone")
        closed.append(run.run_id)
    return closed
