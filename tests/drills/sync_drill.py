"""`nudge-pipeline sync` in processes of its own, and what a sync left in the lake and warehouse.

Each sync is a separate OS process with its own pid: SIGKILL stops it with no cleanup, as a
power cut would. The processes are forked from a multiprocessing fork server that has
imported Dagster and the database drivers once, so a drill of many syncs does not
pay several seconds of imports per sync.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import dagster as dg
import pyarrow.parquet as pq
import sqlalchemy as sa

from nudge_pipeline.lake.store import is_temp_name
from nudge_pipeline.simulator import SimHandle
from tests.e2e.helpers import expected_messages, sync_env

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster_home" / "dagster.yaml"
PRELOAD = [
    "nudge_pipeline.cli",
    "nudge_pipeline.sync",
    "nudge_pipeline.defs.sync",
    "nudge_pipeline.warehouse.loaders.duckdb",
    "nudge_pipeline.warehouse.loaders.postgres",
    "duckdb_engine",
]
SYNC_TIMEOUT = 240.0

PUBLISH = "POST /v1/messages/publish"
PAGES = "POST /v1/messages/pages"
FETCH = "POST /v1/messages/fetch"

MessageKey = tuple[str, str, str, str]  # campaign_id, run_id, customer_id, message
RunKey = tuple[str, str]  # campaign_id, run_id


@dataclass(frozen=True)
class SyncOutcome:
    returncode: int  # negative: killed by that signal, as with subprocess
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def tail(self) -> str:
        return f"exit {self.returncode}\n{self.stdout[-3000:]}\n{self.stderr[-3000:]}"


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _sync_main(env: dict[str, str], args: list[str], out: str, err: str) -> None:
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    from nudge_pipeline.cli import app

    app(["sync", *args], prog_name="nudge-pipeline")  # exits with the command's status


def _create_instance(home: str) -> None:
    import dagster as dg

    os.environ["DAGSTER_HOME"] = home  # the project's dagster.yaml reads it
    dg.DagsterInstance.from_config(home).dispose()


def _run_in_child(target: Any, args: tuple[Any, ...], timeout: float) -> int:
    process = _context().Process(target=target, args=args)
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        raise TimeoutError(f"{target.__name__} still running after {timeout:.0f} s")
    assert process.exitcode is not None
    return process.exitcode


def run_sync(env: dict[str, str], *args: str, timeout: float = SYNC_TIMEOUT) -> SyncOutcome:
    """`nudge-pipeline sync *args` with exactly `env` as its environment."""
    logs = Path(env["DAGSTER_HOME"]).parent
    out, err = logs / "sync.stdout", logs / "sync.stderr"
    code = _run_in_child(_sync_main, (env, list(args), str(out), str(err)), timeout)
    return SyncOutcome(code, out.read_text(errors="replace"), err.read_text(errors="replace"))


def create_dagster_home_template(template: Path) -> Path:
    """A migrated instance with the project's dagster.yaml (pools included), to be copied."""
    template.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_DAGSTER_YAML, template / "dagster.yaml")
    code = _run_in_child(_create_instance, (str(template),), SYNC_TIMEOUT)
    assert code == 0, "could not create the template Dagster instance"
    return template


def make_dagster_home(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target


def drill_env(
    sim: SimHandle, root: Path, warehouse_url: str, dagster_home: Path, **extra: str
) -> dict[str, str]:
    return sync_env(sim, root, warehouse_url, DAGSTER_HOME=str(dagster_home), **extra)


def messages_loads(dagster_home: Path) -> Counter[str]:
    """How many times each campaign-run partition of `messages` was materialized (loaded)."""
    # The instance's storage is configured from DAGSTER_HOME, as for every Dagster command.
    with mock.patch.dict(os.environ, {"DAGSTER_HOME": str(dagster_home)}):
        instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        records = instance.fetch_materializations(dg.AssetKey("messages"), limit=10_000).records
        return Counter(str(r.partition_key) for r in records)
    finally:
        instance.dispose()


def _instance_db(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True))


def claimed_pool_slots(dagster_home: Path) -> int:
    """Pool slots held by some run, read from the SQLite instance's event log index."""
    with _instance_db(dagster_home / "history" / "runs" / "index.db") as db:
        query = "SELECT COUNT(*) FROM concurrency_slots WHERE run_id IS NOT NULL AND deleted = 0"
        return int(db.execute(query).fetchone()[0])


def unfinished_runs(dagster_home: Path) -> int:
    with _instance_db(dagster_home / "history" / "runs.db") as db:
        query = "SELECT COUNT(*) FROM runs WHERE status IN ('QUEUED', 'STARTING', 'STARTED')"
        return int(db.execute(query).fetchone()[0])


# ------------------------------------------------------------------ what landed


def published_messages(sim: SimHandle) -> Counter[MessageKey]:
    """Messages of the eligible runs (stage Published), read through the paged JSON API."""
    return expected_messages(sim, {"Published"})


def warehouse_messages(url: str) -> Counter[MessageKey]:
    """The messages in the warehouse; none where no sync got as far as creating it."""
    tables = _query(
        url,
        "SELECT COUNT(*) FROM information_schema.tables"
        " WHERE table_schema = 'nudgescribe' AND table_name = 'messages'",
    )
    if not tables[0][0]:
        return Counter()
    rows = _query(url, "SELECT campaign_id, run_id, customer_id, message FROM nudgescribe.messages")
    return Counter((r[0], r[1], r[2], r[3]) for r in rows)


def warehouse_files(url: str) -> dict[str, str]:
    """message_files: full lake path (root and relative lake_path) -> export_job_id."""
    rows = _query(
        url,
        "SELECT l.lake_root || '/' || f.lake_path, f.export_job_id"
        " FROM nudgescribe.message_files AS f CROSS JOIN nudgescribe.lake AS l",
    )
    return {str(r[0]): str(r[1]) for r in rows}


def _query(url: str, sql: str) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql)).all())
    finally:
        engine.dispose()


def messages_by_run(messages: Counter[MessageKey]) -> dict[RunKey, Counter[MessageKey]]:
    runs: dict[RunKey, Counter[MessageKey]] = {}
    for key, n in messages.items():
        runs.setdefault((key[0], key[1]), Counter())[key] = n
    return runs


def lake_files(lake_root: Path) -> list[Path]:
    return sorted(p for p in lake_root.rglob("*") if p.is_file())


def temp_files(lake_root: Path) -> list[Path]:
    return [p for p in lake_files(lake_root) if is_temp_name(p.name)]


def lake_message_files(lake_root: Path) -> list[Path]:
    return [p for p in lake_files(lake_root / "messages") if p.suffix == ".parquet"]


def lake_messages(lake_root: Path) -> Counter[MessageKey]:
    found: Counter[MessageKey] = Counter()
    columns = ["campaign_id", "run_id", "customer_id", "message"]
    for path in lake_message_files(lake_root):
        table = pq.read_table(path, columns=columns)
        found.update(zip(*(table.column(c).to_pylist() for c in columns), strict=True))
    return found


@dataclass(frozen=True)
class Landing:
    """What the lake and the warehouse hold, read at one moment."""

    warehouse: Counter[MessageKey]
    lake: Counter[MessageKey]
    temp_files: list[str]
    lake_files: set[str]
    recorded_files: set[str]  # message_files.lake_path


def observe_landing(lake_root: Path, warehouse_url: str) -> Landing:
    return Landing(
        warehouse=warehouse_messages(warehouse_url),
        lake=lake_messages(lake_root),
        temp_files=[str(p) for p in temp_files(lake_root)],
        lake_files={str(p) for p in lake_message_files(lake_root)},
        recorded_files=set(warehouse_files(warehouse_url)),
    )


def assert_landed_exactly(expected: Counter[MessageKey], landing: Landing) -> None:
    """Every expected message once in the warehouse and the lake; no stray or partial file."""
    assert expected, "the world must hold eligible messages"
    assert landing.warehouse - expected == Counter(), "rows duplicated or not expected"
    assert expected - landing.warehouse == Counter(), "rows lost"
    assert landing.lake == expected
    assert landing.temp_files == []
    assert landing.lake_files == landing.recorded_files
