"""Syncs that overlap: several `nudge-pipeline sync` processes on one lake, and what they cost.

Each sync here is a plain subprocess of the installed console script, so two of them are
two independent workers (own pid, own claims holder) sharing the lake, the warehouse and the
Dagster instance, as two machines or two cron jobs would.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.drills.sync_drill import RunKey
from tests.e2e.helpers import CLI
from tests.fixtures.simulator import small_world

# A sync of these drills takes well under a minute; one still running after this is hung.
SYNC_TIMEOUT = 180.0
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
# What a worker process imports once, before it is forked for each Dagster run.
WORKER_PRELOAD = ["dagster", "nudge_pipeline.defs", "nudge_pipeline.defs.jobs", "duckdb_engine"]


def slow_export_world(completed_runs: int, export_seconds: float) -> dict[str, Any]:
    """One Published campaign with `completed_runs` completed runs (the simulator makes the
    second run of three or more a failed one) whose exports take `export_seconds`."""
    return small_world(
        runs_per_campaign=completed_runs + 1,
        messages_per_run=40,
        rows_per_file=20,
        customer_groups=1,
        customers_per_group=20,
        export_duration=export_seconds,
    )


class SyncHung(AssertionError):
    """A sync still running long after it should have ended (its stacks are in the report)."""


@dataclass
class SyncProcess:
    """A `nudge-pipeline sync` running in the background, its output in files."""

    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    started_at: float  # epoch seconds

    def wait(self, timeout: float = SYNC_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # SIGABRT makes the fault handler write every thread's stack to stderr.
            self.process.send_signal(signal.SIGABRT)
            self.process.wait()
            raise SyncHung(
                f"sync {self.name} hung: still running after {timeout:.0f} s\n{self.tail()}"
            ) from None

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def runs_landed(self) -> int:
        """The runs its summary says it landed ("N run(s) landed (…)")."""
        found = re.search(r"(\d+) run\(s\) landed", self.stdout.read_text(errors="replace"))
        assert found, self.tail()
        return int(found.group(1))

    def tail(self) -> str:
        out = self.stdout.read_text(errors="replace")[-3000:]
        err = self.stderr.read_text(errors="replace")[-12000:]
        return f"sync {self.name}: exit {self.process.returncode}\n{out}\n{err}"


def assert_all_succeeded(*syncs: SyncProcess) -> None:
    """Wait for every sync, then require exit status 0 of each."""
    exits = [sync.wait() for sync in syncs]
    failed = [sync for sync, code in zip(syncs, exits, strict=True) if code != 0]
    if not failed:
        return
    raise AssertionError("\n".join(sync.tail() for sync in failed))


def start_sync(env: dict[str, str], logs: Path, name: str, *args: str) -> SyncProcess:
    logs.mkdir(parents=True, exist_ok=True)
    stdout, stderr = logs / f"{name}.stdout", logs / f"{name}.stderr"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [CLI, "sync", *args],
            env={**env, "PYTHONFAULTHANDLER": "1"},
            stdout=out,
            stderr=err,
        )
    return SyncProcess(name, process, stdout, stderr, time.time())


def publishes_by_run(stats: dict[str, Any]) -> Counter[RunKey]:
    """Accepted publishes per campaign run, from the simulator's record of each one."""
    return Counter((p["campaign_id"], p["run_id"]) for p in stats["accepted_publishes"])


def assert_each_run_published_once(stats: dict[str, Any], eligible: set[RunKey]) -> None:
    assert publishes_by_run(stats) == Counter(dict.fromkeys(eligible, 1)), publish_report(stats)


def duplicate_keys(warehouse_url: str) -> list[Any]:
    """Row keys held more than once in nudgescribe.messages (DuckDB keeps no index on it)."""
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT campaign_id, run_id, file_num, row_num, COUNT(*)"
                        " FROM nudgescribe.messages"
                        " GROUP BY campaign_id, run_id, file_num, row_num HAVING COUNT(*) > 1"
                    )
                ).all()
            )
    finally:
        engine.dispose()


def publish_report(stats: dict[str, Any]) -> str:
    """The simulator's publish log, for a failure message: who was published when."""
    first = min((p["at"] for p in stats["accepted_publishes"]), default=0.0)
    return "\n".join(
        f"+{p['at'] - first:6.2f} s  {p['campaign_id']}~{p['run_id']}"
        for p in stats["accepted_publishes"]
    )


def dagster_workers(count: int) -> ProcessPoolExecutor:
    """Processes that execute Dagster runs, one at a time each, as run workers would."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    return ProcessPoolExecutor(max_workers=count, mp_context=context)


def execute_campaign_runs(
    dagster_home: str,
    settings: dict[str, str],
    partition_key: str | None,
    tags: dict[str, str],
) -> list[str]:
    """`campaign_run_job` for one partition, or for the range its tags name; in a worker
    process. Returns its step failures (none when it succeeded)."""
    os.environ["DAGSTER_HOME"] = dagster_home  # the project's dagster.yaml reads it
    import dagster as dg

    from nudge_pipeline.defs import build_defs
    from nudge_pipeline.defs.jobs import campaign_run_job
    from nudge_pipeline.defs.resources import (
        LakeResource,
        NudgescribeResource,
        WarehouseResource,
    )

    resources = {
        "nudgescribe": NudgescribeResource(
            base_url=settings["base_url"],
            api_code=settings["api_code"],
            api_key=settings["api_key"],
            api_secret=settings["api_secret"],
            profile_key=settings["profile_key"],
        ),
        "lake": LakeResource(root=settings["lake_root"]),
        "warehouse": WarehouseResource(url=settings["warehouse_url"]),
    }
    job = build_defs(resources).resolve_job_def(campaign_run_job.name)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition_key,
            tags=tags,
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
    failures = [
        event.step_failure_data.error.message if event.step_failure_data.error else "failed"
        for event in result.all_events
        if event.is_step_failure
    ]
    if not result.success and not failures:
        failures.append(f"run {result.run_id} failed")
    return failures
