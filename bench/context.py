"""What the scenarios share: the simulators of one invocation, scratch folders, a sync."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness import Measured

from nudge_pipeline.simulator import SimConfig, SimHandle
from nudge_pipeline.sync import simulator_environment

ONE_MILLION = 1_000_000
ROWS_PER_FILE = 10_000


class Simulators:
    """Simulators by config, kept running across the scenarios of one invocation."""

    def __init__(self, stack: contextlib.ExitStack, work: Path) -> None:
        self.stack = stack
        self.work = work
        self.running: dict[str, SimHandle] = {}

    def get(self, name: str, config: SimConfig) -> SimHandle:
        if name not in self.running:
            started = time.perf_counter()
            sim = self.stack.enter_context(harness.simulator(config, self.work / f"sim-{name}"))
            files = harness.prepare_exports(sim, workers=8)
            print(
                f"simulator {name}: {files} export file(s) rendered in "
                f"{time.perf_counter() - started:.1f} s (not timed)",
                file=sys.stderr,
            )
            self.running[name] = sim
        return self.running[name]

    def close(self, name: str) -> None:
        # Big simulators hold their files on disk; stop them once no scenario needs them.
        sim = self.running.pop(name, None)
        if sim is not None:
            sim.close()


@dataclass
class Context:
    sims: Simulators
    work: Path
    rounds: int
    long_rounds: int
    dagster_postgres: bool
    stamp: str
    rev: str | None = None
    latency_ms: int = 0  # versus: the simulator answers each request this much later
    cache: dict[str, Any] = field(default_factory=dict)

    def round_dir(self, name: str) -> Path:
        return harness.fresh_dir(self.work / "rounds" / name)


def warm_bytecode() -> None:
    """Fill the bench's bytecode cache once, so no contestant pays for compiling it."""
    code = (
        "import nudge_pipeline.cli, nudge_pipeline.sync, nudge_pipeline.defs.sync, "
        "dagster._core.storage.sqlite_storage, dlt, dlt.destinations, duckdb, psycopg, "
        "pyarrow.parquet, pyarrow.csv, requests"
    )
    harness.run_measured("warm-up", [harness.PYTHON, "-c", code], harness.program_env()).check()


def warehouse_rows(url_or_path: str) -> int:
    import duckdb

    connection = duckdb.connect(url_or_path, read_only=True)
    try:
        result = connection.execute("SELECT COUNT(*) FROM nudgescribe.messages").fetchone()
    finally:
        connection.close()
    return int(result[0]) if result else 0


def require(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


def run_limit(ctx: Context, sim: SimHandle, label: str) -> Measured:
    """The limit (baselines.py): the simulator's CSV files → Parquet → one DuckDB insert."""
    csv_dir = harness.export_csv_dir(sim)
    return harness.run_baseline(label, ["limit", str(csv_dir), str(ctx.round_dir("limit"))])


def run_dlt(ctx: Context, sim: SimHandle, label: str) -> Measured:
    """dlt's Arrow path (baselines.py) against the simulator's API, 4 files at a time."""
    api = {**harness.program_env(), **simulator_environment(sim)}
    return harness.run_baseline(label, ["dlt", str(ctx.round_dir("dlt")), "4"], api)


# --------------------------------------------------------------------------- export


def our_sync(
    ctx: Context,
    sim: SimHandle,
    name: str,
    expect_rows: int,
    dagster_url: str | None = None,
    sync_args: Sequence[str] = (),
) -> tuple[Measured, dict]:
    work = ctx.round_dir(name)
    measured = harness.run_sync(
        f"sync {name}", sim, work, dagster_postgres_url=dagster_url, sync_args=sync_args
    )
    landed = warehouse_rows(str(work / "warehouse.duckdb"))
    require(
        landed == expect_rows,
        f"sync {name}: {landed} rows in the warehouse, expected {expect_rows}",
    )
    return measured, harness.step_seconds(work / "dagster_home")
