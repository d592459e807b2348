"""Whole-pipeline benchmarks: `nudge-pipeline sync` against baselines, in the same run.

    .venv/bin/python bench/run.py export-1m|scale|backfill-200|postgres|api-cost|latency|all
        [--rounds N] [--long-rounds N] [--work-dir DIR]
    .venv/bin/python bench/run.py versus --rev REV [--rounds N]

Each scenario prints a markdown table and writes JSON to bench/results/. The exit status is 1
when a target is missed. See bench/README.md for what each baseline is and why it is fair.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import versus as versus_revision  # noqa: E402
from harness import FETCH, PAGES, PUBLISH, Measured  # noqa: E402

from nudge_pipeline.simulator import SimConfig, SimHandle  # noqa: E402
from nudge_pipeline.sync import simulator_environment  # noqa: E402

ONE_MILLION = 1_000_000
ROWS_PER_FILE = 10_000
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_DATABASE = "nudge_bench"
PG_DAGSTER_DATABASE = "nudge_bench_dagster"

# The targets (bench/README.md "Targets"); a missed one makes the exit status 1.
US_OVER_LIMIT_MAX = 1.5
DLT_OVER_US_MIN = 1.3
PEAK_RSS_MAX_MB = 300.0
SCALE_RSS_GROWTH_MAX = 1.10
MARGINAL_OVER_LIMIT_MAX = 1.3
FIXED_COST_MAX_S = 1.5
BACKFILL_OVER_SINGLE_MAX = 3.0
POSTGRES_OVER_COPY_MAX = 1.5
PAGES_POLLS_MAX = 10


@dataclass
class Target:
    name: str
    measured: str
    goal: str
    met: bool


@dataclass
class Report:
    scenario: str
    rows: list[tuple[str, ...]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def target(self, name: str, value: float, goal: str, met: bool, fmt: str = "{:.2f}") -> None:
        self.targets.append(Target(name, fmt.format(value), goal, met))

    def print(self) -> None:
        print(f"\n### {self.scenario}\n")
        if self.rows:
            header, *body = self.rows
            print("| " + " | ".join(header) + " |")
            print("|" + "---|" * len(header))
            for row in body:
                print("| " + " | ".join(row) + " |")
        if self.targets:
            print("\n| target | measured | goal | |")
            print("|---|---|---|---|")
            for t in self.targets:
                print(
                    f"| {t.name} | {t.measured} | {t.goal} | {'met' if t.met else '**MISSED**'} |"
                )
        sys.stdout.flush()

    def save(self, stamp: str) -> Path:
        harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = harness.RESULTS_DIR / f"{self.scenario}-{stamp}.json"
        body = {
            "scenario": self.scenario,
            "when": stamp,
            "machine": machine(),
            "targets": [t.__dict__ for t in self.targets],
            "data": self.data,
        }
        path.write_text(json.dumps(body, indent=2, default=str))
        return path


def machine() -> dict[str, Any]:
    import os

    import psutil

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_avg_at_end": os.getloadavg(),
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_s(values: list[float]) -> str:
    return f"{median(values):.2f} s" + (
        f" ({min(values):.2f}–{max(values):.2f})" if len(values) > 1 else ""
    )


def fmt_mb(values: list[float]) -> str:
    return f"{max(values):.0f} MB"


def rows_per_s(rows: int, seconds: list[float]) -> str:
    return f"{rows / median(seconds):,.0f}"


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


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


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
    _require(
        landed == expect_rows,
        f"sync {name}: {landed} rows in the warehouse, expected {expect_rows}",
    )
    return measured, harness.step_seconds(work / "dagster_home")


def export_rounds(ctx: Context, messages: int, rounds: int) -> dict[str, Any]:
    """Alternating rounds of limit, dlt and sync on the same simulator and files."""
    sim = ctx.sims.get(f"{messages}", harness.single_run_config(messages, ROWS_PER_FILE))
    csv_dir = harness.export_csv_dir(sim)
    api = {**harness.program_env(), **simulator_environment(sim)}
    runs: dict[str, list[Measured]] = {"limit": [], "dlt": [], "us": []}
    steps: list[dict[str, float]] = []
    contestants: dict[str, Callable[[int], Measured]] = {
        "limit": lambda i: harness.run_baseline(
            f"limit #{i}", ["limit", str(csv_dir), str(ctx.round_dir("limit"))]
        ),
        "dlt": lambda i: harness.run_baseline(
            f"dlt #{i}", ["dlt", str(ctx.round_dir("dlt")), "4"], api
        ),
        "us": lambda i: _ours(ctx, sim, i, messages, steps),
    }
    order = list(contestants)
    for i in range(rounds):
        for name in order if i % 2 == 0 else reversed(order):
            measured = contestants[name](i)
            runs[name].append(measured)
            print(
                f"  {measured.label}: {measured.seconds:.2f} s, {measured.peak_rss_mb:.0f} MB",
                file=sys.stderr,
            )
    for name in ("limit", "dlt"):
        for m in runs[name]:
            _require(
                m.result.get("rows") == messages, f"{m.label} landed {m.result.get('rows')} rows"
            )
    return {"runs": runs, "steps": steps, "messages": messages}


def _ours(
    ctx: Context, sim: SimHandle, i: int, messages: int, steps: list[dict[str, float]]
) -> Measured:
    measured, step = our_sync(ctx, sim, f"us-{messages}", messages)
    measured.label = f"sync #{i}"
    steps.append(step)
    return measured


def paired_ratio(top: list[Measured], bottom: list[Measured]) -> float:
    return median([a.seconds / b.seconds for a, b in zip(top, bottom, strict=True)])


def export_1m(ctx: Context) -> Report:
    found = export_rounds(ctx, ONE_MILLION, ctx.rounds)
    ctx.cache["export-1m"] = found
    runs, steps = found["runs"], found["steps"]
    report = Report("export-1m")
    limit, dlt, us = runs["limit"], runs["dlt"], runs["us"]
    secs = {k: [m.seconds for m in v] for k, v in runs.items()}
    report.rows = [
        ("contestant", f"wall, median of {ctx.rounds} (range)", "rows/s", "peak RSS (tree)"),
        (
            "(a) limit: pyarrow.csv → Parquet → DuckDB",
            fmt_s(secs["limit"]),
            rows_per_s(ONE_MILLION, secs["limit"]),
            fmt_mb([m.peak_rss_mb for m in limit]),
        ),
        (
            "(b) dlt Arrow path, from the API",
            fmt_s(secs["dlt"]),
            rows_per_s(ONE_MILLION, secs["dlt"]),
            fmt_mb([m.peak_rss_mb for m in dlt]),
        ),
        (
            "**nudge-pipeline sync**",
            fmt_s(secs["us"]),
            rows_per_s(ONE_MILLION, secs["us"]),
            fmt_mb([m.peak_rss_mb for m in us]),
        ),
    ]
    inner = {
        "limit: CSV → Parquet": [m.result["convert_s"] for m in limit],
        "limit: DuckDB insert": [m.result["load_s"] for m in limit],
        "dlt: pipeline.run": [m.result["pipeline_s"] for m in dlt],
    }
    # The sync's steps that took longest, summed over its Dagster runs.
    slowest = sorted(
        {k for s in steps for k in s if k != "(runs)"}, key=lambda k: -steps[0].get(k, 0)
    )
    for step in slowest[:6]:
        inner[f"sync step: {step}"] = [s.get(step, 0.0) for s in steps]
    inner["sync: all Dagster runs"] = [s.get("(runs)", 0.0) for s in steps]
    report.rows.append(("**where the time goes**", "", "", ""))
    for name, values in inner.items():
        report.rows.append((name, fmt_s(values), "", ""))
    us_limit = paired_ratio(us, limit)
    dlt_us = paired_ratio(dlt, us)
    report.target(
        "us / limit (wall)", us_limit, f"≤ {US_OVER_LIMIT_MAX}", us_limit <= US_OVER_LIMIT_MAX
    )
    report.target("dlt / us (wall)", dlt_us, f"≥ {DLT_OVER_US_MIN}", dlt_us >= DLT_OVER_US_MIN)
    peak = max(m.peak_rss_mb for m in us)
    report.target(
        "peak RSS at 1M", peak, f"≤ {PEAK_RSS_MAX_MB:.0f} MB", peak <= PEAK_RSS_MAX_MB, "{:.0f} MB"
    )
    report.data = {
        "seconds": secs,
        "peak_rss_mb": {k: [m.peak_rss_mb for m in v] for k, v in runs.items()},
        "inner_seconds": inner,
        "sync_steps": steps,
        "ratios": {"us_over_limit": us_limit, "dlt_over_us": dlt_us},
    }
    return report


# ---------------------------------------------------------------------------- scale


def scale(ctx: Context) -> Report:
    """Sync and limit at 1M and 5M: peak RSS, and what each further million rows costs."""
    report = Report("scale")
    sizes = (ONE_MILLION, 5 * ONE_MILLION)
    syncs: dict[int, list[Measured]] = {}
    limits: dict[int, list[Measured]] = {}
    if "export-1m" in ctx.cache:
        runs = ctx.cache["export-1m"]["runs"]
        syncs[ONE_MILLION], limits[ONE_MILLION] = runs["us"], runs["limit"]
    for messages in sizes:
        if messages in syncs:
            continue
        sim = ctx.sims.get(f"{messages}", harness.single_run_config(messages, ROWS_PER_FILE))
        limit = harness.run_baseline(
            f"limit {messages:,}",
            ["limit", str(harness.export_csv_dir(sim)), str(ctx.round_dir("limit"))],
        )
        _require(limit.result.get("rows") == messages, f"limit landed {limit.result}")
        measured, _ = our_sync(ctx, sim, f"scale-{messages}", messages)
        print(
            f"  {messages:,}: sync {measured.seconds:.2f} s, {measured.peak_rss_mb:.0f} MB; "
            f"limit {limit.seconds:.2f} s",
            file=sys.stderr,
        )
        syncs[messages], limits[messages] = [measured], [limit]
        if messages != ONE_MILLION:
            ctx.sims.close(f"{messages}")
    sync_s = {n: [m.seconds for m in syncs[n]] for n in sizes}
    limit_s = {n: [m.seconds for m in limits[n]] for n in sizes}
    sync_line, limit_line = cost_line(sync_s), cost_line(limit_s)
    report.rows = [("messages", "sync wall", "limit wall", "sync rows/s", "sync peak RSS (tree)")]
    for messages in sizes:
        report.rows.append(
            (
                f"{messages:,}",
                fmt_s(sync_s[messages]),
                fmt_s(limit_s[messages]),
                rows_per_s(messages, sync_s[messages]),
                fmt_mb([m.peak_rss_mb for m in syncs[messages]]),
            )
        )
    report.rows.append(
        ("per further 1M", f"{sync_line.per_million:.2f} s", f"{limit_line.per_million:.2f} s")
    )
    report.rows.append(
        ("fixed (intercept)", f"{sync_line.fixed:.2f} s", f"{limit_line.fixed:.2f} s")
    )
    marginal = sync_line.per_million / limit_line.per_million
    report.target(
        "per further 1M: sync / limit",
        marginal,
        f"≤ {MARGINAL_OVER_LIMIT_MAX}",
        marginal <= MARGINAL_OVER_LIMIT_MAX,
    )
    small = max(m.peak_rss_mb for m in syncs[ONE_MILLION])
    big = max(m.peak_rss_mb for m in syncs[5 * ONE_MILLION])
    report.target(
        "peak RSS at 1M",
        small,
        f"≤ {PEAK_RSS_MAX_MB:.0f} MB",
        small <= PEAK_RSS_MAX_MB,
        "{:.0f} MB",
    )
    growth = big / small
    report.target(
        "peak RSS 5M / 1M", growth, f"≤ {SCALE_RSS_GROWTH_MAX}", growth <= SCALE_RSS_GROWTH_MAX
    )
    ctx.cache["scale"] = {"sync": sync_line, "limit": limit_line}
    report.data = {
        "peak_rss_mb": {n: [m.peak_rss_mb for m in syncs[n]] for n in sizes},
        "seconds": sync_s,
        "limit_seconds": limit_s,
        "sync_cost": sync_line.__dict__,
        "limit_cost": limit_line.__dict__,
    }
    return report


@dataclass
class CostLine:
    """Seconds = fixed + per_million × millions of rows, through two measured sizes."""

    fixed: float
    per_million: float


def cost_line(seconds: dict[int, list[float]]) -> CostLine:
    (small, t_small), (big, t_big) = sorted((n, median(v)) for n, v in seconds.items())
    per_million = (t_big - t_small) / ((big - small) / ONE_MILLION)
    return CostLine(t_small - per_million * small / ONE_MILLION, per_million)


# ----------------------------------------------------------------------- fixed-cost

NO_OP_MESSAGES = 10_000
STARTUP_PROBES = {  # what a process pays before its first line of work
    "python -c pass": "pass",
    "python -c 'import dagster'": "import dagster",
    "python -c 'import nudge_pipeline.defs.sync'": "import nudge_pipeline.defs.sync",
}


def fixed_cost(ctx: Context) -> Report:
    """A sync's cost before its first row, two ways: a no-op sync against a server with
    nothing new, and the intercept of the 1M and 5M syncs (`scale`)."""
    sim = ctx.sims.get("no-op", harness.single_run_config(NO_OP_MESSAGES, ROWS_PER_FILE))
    work = ctx.round_dir("fixed-cost")
    harness.run_sync("fixed-cost: first sync (not timed)", sim, work)
    before = harness.step_seconds(work / "dagster_home")
    sim.reset_stats()
    no_ops = [harness.run_sync(f"no-op sync #{i}", sim, work) for i in range(ctx.rounds)]
    calls = harness.sim_calls(sim)
    _require(calls.get(PUBLISH, 0) == 0 and calls.get(FETCH, 0) == 0, f"no-op sync: {calls}")
    after = harness.step_seconds(work / "dagster_home")
    per_no_op = {k: (after[k] - before.get(k, 0.0)) / ctx.rounds for k in after}
    probes = {
        label: [
            harness.run_measured(label, [harness.PYTHON, "-c", code], harness.program_env())
            .check()
            .seconds
            for _ in range(ctx.rounds)
        ]
        for label, code in STARTUP_PROBES.items()
    }
    if "scale" not in ctx.cache:
        scale(ctx)
    intercept = ctx.cache["scale"]["sync"].fixed
    no_op_s = [m.seconds for m in no_ops]
    report = Report("fixed-cost")
    report.rows = [("what", f"seconds, median of {ctx.rounds} (range)")]
    report.rows.append(("no-op sync (spawn → exit)", fmt_s(no_op_s)))
    report.rows.append(("intercept of the 1M and 5M syncs (`scale`)", f"{intercept:.2f} s"))
    report.rows.append(("**where a no-op sync's time goes**", ""))
    for label, seconds in probes.items():
        report.rows.append((label, fmt_s(seconds)))
    for step, seconds in sorted(per_no_op.items(), key=lambda item: -item[1]):
        name = "all its Dagster runs, start to end" if step == "(runs)" else f"step `{step}`"
        report.rows.append((name, f"{seconds:.2f} s"))
    no_op = median(no_op_s)
    report.target(
        "no-op sync", no_op, f"≤ {FIXED_COST_MAX_S:g} s", no_op <= FIXED_COST_MAX_S, "{:.2f} s"
    )
    report.target(
        "fixed cost (intercept 1M, 5M)",
        intercept,
        f"≤ {FIXED_COST_MAX_S:g} s",
        intercept <= FIXED_COST_MAX_S,
        "{:.2f} s",
    )
    report.data = {
        "no_op_seconds": no_op_s,
        "intercept_seconds": intercept,
        "startup_probes": probes,
        "no_op_step_seconds": per_no_op,
        "no_op_calls": calls,
    }
    return report


# ---------------------------------------------------------------------- backfill-200


def backfill_200(ctx: Context) -> Report:
    runs, per_run = 200, 5_000
    many = ctx.sims.get("200x5k", harness.many_runs_config(runs, per_run, ROWS_PER_FILE))
    single = ctx.sims.get(f"{ONE_MILLION}", harness.single_run_config(ONE_MILLION, ROWS_PER_FILE))
    storages = ["sqlite", "postgres"] if ctx.dagster_postgres else ["sqlite"]
    found: dict[str, dict[str, list[Measured]]] = {
        s: {"backfill": [], "single": []} for s in storages
    }
    for i in range(ctx.long_rounds):
        for storage in storages:
            contestants: list[tuple[str, SimHandle, int, Sequence[str]]] = [
                ("backfill", many, runs * per_run, ()),
                ("single", single, ONE_MILLION, ()),
            ]
            for name, sim, rows, args in contestants if i % 2 == 0 else reversed(contestants):
                with dagster_database(storage) as dagster_url:
                    measured, _ = our_sync(ctx, sim, name, rows, dagster_url, args)
                measured.label = f"{name} ({storage} instance) #{i}"
                found[storage][name].append(measured)
                print(
                    f"  {measured.label}: {measured.seconds:.2f} s, {measured.peak_rss_mb:.0f} MB",
                    file=sys.stderr,
                )
    report = Report("backfill-200")
    report.rows = [("sync of", f"wall, median of {ctx.long_rounds}", "rows/s", "peak RSS (tree)")]
    ratios = {}
    for storage in storages:
        backfills, singles = found[storage]["backfill"], found[storage]["single"]
        instance = "" if storage == "sqlite" else ", Dagster instance on PostgreSQL"
        for label, syncs, rows in (
            (f"{runs} runs × {per_run:,} messages (200 partitions)", backfills, runs * per_run),
            ("1 run × 1,000,000 messages (1 partition)", singles, ONE_MILLION),
        ):
            seconds = [m.seconds for m in syncs]
            report.rows.append(
                (
                    label + instance,
                    fmt_s(seconds),
                    rows_per_s(rows, seconds),
                    fmt_mb([m.peak_rss_mb for m in syncs]),
                )
            )
        ratios[storage] = paired_ratio(backfills, singles)
    report.target(
        "backfill / single partition",
        ratios["sqlite"],
        f"≤ {BACKFILL_OVER_SINGLE_MAX}",
        ratios["sqlite"] <= BACKFILL_OVER_SINGLE_MAX,
    )
    report.data = {
        storage: {name: [m.seconds for m in values] for name, values in found[storage].items()}
        for storage in storages
    }
    report.data["ratios"] = ratios
    report.data["simulator_calls"] = harness.sim_calls(many)
    if "postgres" in ratios:
        report.rows.append(
            ("ratio with the instance on PostgreSQL", f"{ratios['postgres']:.2f}", "", "")
        )
    return report


@contextlib.contextmanager
def dagster_database(storage: str) -> Iterator[str | None]:
    if storage == "sqlite":
        yield None
        return
    with pg_database(PG_DAGSTER_DATABASE) as url:
        yield url.replace("+psycopg", "+psycopg2")


# -------------------------------------------------------------------------- postgres


@contextlib.contextmanager
def pg_database(name: str = PG_DATABASE) -> Iterator[str]:
    import psycopg

    def recreate(create: bool) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            if create:
                admin.execute(f"CREATE DATABASE {name}")

    recreate(True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        recreate(False)


def postgres_rows(url: str, table: tuple[str, str] = ("nudgescribe", "messages")) -> int:
    import psycopg
    from psycopg import sql

    query = sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(*table))
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0


def sling_move(label: str, csv_dir: Path, libpq_url: str, work: Path) -> Measured:
    """Sling's plain move of the export CSV files into a new PostgreSQL table (full refresh)."""
    from sling_linux_amd64 import SLING_BIN

    env = {
        **harness.program_env(),
        "SLING_HOME_DIR": str(harness.fresh_dir(work / "sling-home")),
        "SLING_DISABLE_TELEMETRY": "true",
    }
    target = f"{libpq_url}?sslmode=disable"
    command = [SLING_BIN, "run", "--src-stream", f"file://{csv_dir}/", "--tgt-conn", target]
    command += ["--tgt-object", "public.sling_messages", "--mode", "full-refresh"]
    return harness.run_measured(label, command, env).check()


def postgres(ctx: Context) -> Report:
    sim = ctx.sims.get(f"{ONE_MILLION}", harness.single_run_config(ONE_MILLION, ROWS_PER_FILE))
    rounds = ctx.long_rounds
    syncs: list[Measured] = []
    slings: list[Measured] = []
    loads: list[float] = []
    copies: list[Measured] = []
    for i in range(rounds):
        work = ctx.round_dir("postgres")
        with pg_database() as url:
            libpq_url = url.replace("+psycopg", "")
            sling = sling_move(f"sling #{i}", harness.export_csv_dir(sim), libpq_url, work)
            moved = postgres_rows(url, ("public", "sling_messages"))
            _require(moved == ONE_MILLION, f"sling #{i}: {moved} rows moved")
            slings.append(sling)
        with pg_database() as url:
            measured = harness.run_sync(f"sync pg #{i}", sim, work, url)
            landed = postgres_rows(url)
            _require(landed == ONE_MILLION, f"sync pg #{i}: {landed} rows in the warehouse")
            loads.append(harness.load_seconds(work / "dagster_home"))
            syncs.append(measured)
            copy = harness.run_baseline(
                f"pg-copy #{i}",
                ["pg-copy", str(work / "lake" / "messages"), url.replace("+psycopg", "")],
            )
            _require(
                copy.result.get("keyed_rows") == copy.result.get("plain_rows") == ONE_MILLION,
                f"pg-copy: {copy.result}",
            )
            copies.append(copy)
        print(
            f"  pg #{i}: sync {measured.seconds:.2f} s (load step {loads[-1]:.2f} s), "
            f"Sling {sling.seconds:.2f} s, bare COPY {copy.result['keyed_copy_s']:.2f} s (keyed)",
            file=sys.stderr,
        )
    copy_s = [c.result["keyed_copy_s"] for c in copies]
    plain_s = [c.result["plain_copy_s"] for c in copies]
    ratio = median([load / c for load, c in zip(loads, copy_s, strict=True)])
    over_sling = paired_ratio(syncs, slings)
    report = Report("postgres")
    report.rows = [
        ("what", f"median of {rounds} (range)", "rows/s", "peak RSS (tree)"),
        (
            "sync into PostgreSQL, whole command (HTTP, lake, warehouse)",
            fmt_s([m.seconds for m in syncs]),
            rows_per_s(ONE_MILLION, [m.seconds for m in syncs]),
            fmt_mb([m.peak_rss_mb for m in syncs]),
        ),
        (
            "Sling 1.4.11: the export CSV files from local disk, whole command",
            fmt_s([m.seconds for m in slings]),
            rows_per_s(ONE_MILLION, [m.seconds for m in slings]),
            fmt_mb([m.peak_rss_mb for m in slings]),
        ),
        ("sync's warehouse replace (`load_seconds`)", fmt_s(loads), rows_per_s(ONE_MILLION, loads)),
        ("bare COPY of the same Parquet, same key", fmt_s(copy_s), rows_per_s(ONE_MILLION, copy_s)),
        ("bare COPY of the same Parquet, no key", fmt_s(plain_s), rows_per_s(ONE_MILLION, plain_s)),
    ]
    report.target("whole sync / Sling's move", over_sling, "≤ 1.0", over_sling <= 1.0)
    report.target(
        "load step / bare COPY (same key)",
        ratio,
        f"≤ {POSTGRES_OVER_COPY_MAX}",
        ratio <= POSTGRES_OVER_COPY_MAX,
    )
    report.data = {
        "sync_seconds": [m.seconds for m in syncs],
        "sling_seconds": [m.seconds for m in slings],
        "sling_peak_rss_mb": [m.peak_rss_mb for m in slings],
        "load_step_seconds": loads,
        "copy_seconds": copy_s,
        "copy_no_key_seconds": plain_s,
        "ratio": ratio,
        "sync_over_sling": over_sling,
    }
    return report


# -------------------------------------------------------------------------- api-cost


def api_cost(ctx: Context) -> Report:
    files = 5
    config = harness.single_run_config(files * ROWS_PER_FILE, ROWS_PER_FILE)
    # A vendor-like export: the job takes a few seconds, so polling is exercised.
    config.export_duration = 4.0
    work = ctx.work / "api-cost"
    with harness.simulator(config, work / "sim") as sim:
        # Fresh lake, warehouse and instance: a kept --work-dir must not make the first
        # sync a second one.
        synced = harness.fresh_dir(work / "sync")
        sim.reset_stats()
        harness.run_sync("sync first", sim, synced)
        first = harness.sim_calls(sim)
        sim.reset_stats()
        harness.run_sync("sync second", sim, synced)
        second = harness.sim_calls(sim)
    report = Report("api-cost")
    report.rows = [("endpoint", "first sync (1 run, 5 files)", "second sync (nothing new)")]
    for endpoint in sorted(set(first) | set(second)):
        report.rows.append(
            (f"`{endpoint}`", str(first.get(endpoint, 0)), str(second.get(endpoint, 0)))
        )
    report.target(
        "publish per run", first.get(PUBLISH, 0), "= 1", first.get(PUBLISH, 0) == 1, "{:.0f}"
    )
    report.target(
        "pages polls",
        first.get(PAGES, 0),
        f"≤ {PAGES_POLLS_MAX}",
        first.get(PAGES, 0) <= PAGES_POLLS_MAX,
        "{:.0f}",
    )
    report.target(
        "fetch per file", first.get(FETCH, 0) / files, "= 1", first.get(FETCH, 0) == files
    )
    report.target(
        "publish on second sync",
        second.get(PUBLISH, 0),
        "= 0",
        second.get(PUBLISH, 0) == 0,
        "{:.0f}",
    )
    report.target(
        "fetch on second sync", second.get(FETCH, 0), "= 0", second.get(FETCH, 0) == 0, "{:.0f}"
    )
    report.data = {"first": first, "second": second, "files": files}
    return report


# ---------------------------------------------------------------------------- latency

LATENCY_RUNS = 20
LATENCY_FILES_PER_RUN = 3
LATENCY_ROWS_PER_FILE = 2_000
LATENCY_GENERATION_S = 5.0
LATENCY_SETTLE_S = 10.0
LATENCY_OVER_FLOOR_MAX = 1.3
FIRST_PUBLISH_MAX_S = 2.0
LATENCY_SYNC_TIMEOUT_S = 600.0


def latency_config() -> SimConfig:
    """20 completed runs of 3 files each in one Published campaign; each export takes 5 s
    and `pages` answers without `status`, so the client waits out the settle window."""
    config = harness.many_runs_config(
        LATENCY_RUNS, LATENCY_FILES_PER_RUN * LATENCY_ROWS_PER_FILE, LATENCY_ROWS_PER_FILE
    )
    config.export_duration = LATENCY_GENERATION_S
    config.pages_omit_status = True
    return config


def published_runs(sim: SimHandle) -> list[tuple[str, str]]:
    from nudge_pipeline.nudgescribe.client import NudgescribeClient
    from nudge_pipeline.nudgescribe.config import ClientConfig

    account = sim.account
    config = ClientConfig(
        base_url=sim.base_url,
        api_code=account.api_code,
        api_key=account.api_key,
        api_secret=account.api_secret,
    )
    with NudgescribeClient(config) as client:
        return [
            (campaign.campaign_id, run.run_id)
            for campaign in client.list_campaigns()
            if campaign.stage == "Published"
            for run in client.list_runs(campaign.campaign_id)
            if run.status == "completed"
        ]


def land_files_alone(
    sim: SimHandle, runs: list[tuple[str, str]], lake_root: Path, workers: int = 4
) -> float:
    """Seconds to land the same export files with nothing else going on: each fetched with
    the client and written as Parquet by the landing code, `workers` at a time (the sync's
    NUDGE_PARALLEL_DOWNLOADS)."""
    from concurrent.futures import ThreadPoolExecutor

    from nudge_pipeline.lake import Lake
    from nudge_pipeline.landing.files import download_file
    from nudge_pipeline.landing.record import RunRecord
    from nudge_pipeline.nudgescribe.client import NudgescribeClient
    from nudge_pipeline.nudgescribe.config import ClientConfig

    account = sim.account
    config = ClientConfig(
        base_url=sim.base_url,
        api_code=account.api_code,
        api_key=account.api_key,
        api_secret=account.api_secret,
    )
    lake = Lake(harness.fresh_dir(lake_root))
    records = [RunRecord(c, r, job_id="alone", num_files=LATENCY_FILES_PER_RUN) for c, r in runs]
    work = [(record, n) for record in records for n in range(LATENCY_FILES_PER_RUN)]
    with NudgescribeClient(config) as client:
        client.list_campaigns()  # log in before the clock starts, as the sync has by then
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            landed = list(pool.map(lambda w: download_file(client, lake, w[0], w[1], "utf8"), work))
        seconds = time.perf_counter() - started
    rows = sum(stats.row_count for stats, _ in landed)
    _require(
        rows == len(runs) * LATENCY_FILES_PER_RUN * LATENCY_ROWS_PER_FILE,
        f"landing the files alone gave {rows} rows",
    )
    return seconds


def last_landed_at(lake_root: Path, runs: list[tuple[str, str]]) -> float:
    """Epoch seconds at which the last of `runs` was loaded, from the run records."""
    from nudge_pipeline.lake import Lake
    from nudge_pipeline.landing.record import RunRecordStore, RunState

    store = RunRecordStore(Lake(lake_root))
    loaded = []
    for campaign_id, run_id in runs:
        record = store.get(campaign_id, run_id)
        _require(
            bool(record and record.state is RunState.LOADED and record.loaded_at),
            f"run {campaign_id}/{run_id} did not land: {record}",
        )
        assert record is not None and record.loaded_at
        loaded.append(datetime.fromisoformat(record.loaded_at).timestamp())
    return max(loaded)


def run_starts(dagster_home: Path, since: float) -> dict[str, float]:
    """Seconds from `since` (epoch) to the start of each job's Dagster run, from the instance."""
    import os

    import dagster as dg

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with dg.DagsterInstance.get() as instance:
            starts: dict[str, float] = {}
            for run in instance.get_runs():
                started = instance.get_run_stats(run.run_id).start_time
                if started is not None:
                    starts[run.job_name] = min(starts.get(run.job_name, started), started) - since
            return starts
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def latency(ctx: Context) -> Report:
    import os

    load_before = os.getloadavg()
    work = harness.fresh_dir(ctx.work / "latency")
    with harness.simulator(latency_config(), work / "sim") as sim:
        runs = published_runs(sim)
        _require(len(runs) == LATENCY_RUNS, f"{len(runs)} eligible runs, not {LATENCY_RUNS}")
        sim.reset_stats()
        synced = harness.run_sync(
            "sync latency",
            sim,
            work / "sync",
            extra_env={"NUDGE_EXPORT_SETTLE_SECONDS": f"{LATENCY_SETTLE_S:g}"},
            timeout=LATENCY_SYNC_TIMEOUT_S,
        )
        publishes = sim.stats()["accepted_publishes"]
        polls = sim.stats()["calls"].get("POST /v1/messages/pages", 0) / LATENCY_RUNS
        # The floor's transfer part, on the same files (now rendered), in the same run.
        transfer = land_files_alone(sim, runs, work / "alone-lake")
    _require(len(publishes) == LATENCY_RUNS, f"{len(publishes)} publishes for {LATENCY_RUNS} runs")
    rows = warehouse_rows(str(work / "sync" / "warehouse.duckdb"))
    expected_rows = LATENCY_RUNS * LATENCY_FILES_PER_RUN * LATENCY_ROWS_PER_FILE
    _require(rows == expected_rows, f"sync latency: {rows} rows, expected {expected_rows}")
    all_landed = last_landed_at(work / "sync" / "lake", runs) - synced.started_at
    first_publish = min(p["at"] for p in publishes) - synced.started_at
    last_publish = max(p["at"] for p in publishes) - synced.started_at
    starts = run_starts(work / "sync" / "dagster_home", synced.started_at)
    floor = LATENCY_GENERATION_S + LATENCY_SETTLE_S + transfer
    ratio = all_landed / floor
    load_after = os.getloadavg()
    report = Report("latency")
    report.rows = [
        ("what", "seconds"),
        ("sync: spawn → first accepted publish", f"{first_publish:.2f}"),
        ("sync: spawn → last accepted publish", f"{last_publish:.2f}"),
        *(
            (f"sync: spawn → Dagster run of `{job}` started", f"{seconds:.2f}")
            for job, seconds in sorted(starts.items(), key=lambda item: item[1])
        ),
        (
            f"sync: spawn → all {LATENCY_RUNS} runs landed (last run record loaded)",
            f"{all_landed:.2f}",
        ),
        ("sync: spawn → exit", f"{synced.seconds:.2f}"),
        (
            f"transfer alone: {LATENCY_RUNS * LATENCY_FILES_PER_RUN} files → Parquet, 4 at a time",
            f"{transfer:.2f}",
        ),
        (
            f"floor: generation {LATENCY_GENERATION_S:g} + settle {LATENCY_SETTLE_S:g} + transfer",
            f"{floor:.2f}",
        ),
        ("peak RSS of the sync tree", f"{synced.peak_rss_mb:.0f} MB"),
        (
            "load average (1, 5, 15 min) before / after",
            f"{_loads(load_before)} / {_loads(load_after)}",
        ),
    ]
    report.target(
        "all landed / floor", ratio, f"≤ {LATENCY_OVER_FLOOR_MAX}", ratio <= LATENCY_OVER_FLOOR_MAX
    )
    report.target(
        "first publish after start",
        first_publish,
        f"≤ {FIRST_PUBLISH_MAX_S:g} s",
        first_publish <= FIRST_PUBLISH_MAX_S,
        "{:.2f} s",
    )
    report.target("pages polls per export", polls, "≤ 10", polls <= 10, "{:.1f}")
    report.data = {
        "pages_polls_per_export": polls,
        "first_publish_s": first_publish,
        "last_publish_s": last_publish,
        "all_landed_s": all_landed,
        "sync_exit_s": synced.seconds,
        "transfer_alone_s": transfer,
        "floor_s": floor,
        "ratio": ratio,
        "peak_rss_mb": synced.peak_rss_mb,
        "run_starts_s": starts,
        "sync_started_at": synced.started_at,
        "accepted_publishes": publishes,
        "load_before": load_before,
        "load_after": load_after,
    }
    return report


def _loads(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


# ---------------------------------------------------------------------- versus


def versus(ctx: Context) -> Report:
    """This checkout against `--rev` on the 1M run and on 200 runs × 5,000 (versus.py)."""
    if not ctx.rev:
        raise SystemExit("versus needs --rev REV (the revision to compare with)")
    contestants = versus_revision.contestants(ctx.rev, ctx.work)
    head = contestants[-1]
    for contestant in contestants:
        versus_revision.warm_bytecode(contestant)
    # A million messages each. With --latency-ms, a vendor across a network rather than a
    # server on the same two cores; the 200-run world is then left out, for time.
    link = f", {ctx.latency_ms} ms a request" if ctx.latency_ms else ""
    worlds = {
        f"1 run × 1,000,000{link}": ctx.sims.get(
            f"{ONE_MILLION}-latency-{ctx.latency_ms}" if ctx.latency_ms else f"{ONE_MILLION}",
            harness.single_run_config(ONE_MILLION, ROWS_PER_FILE, latency_ms=ctx.latency_ms),
        ),
    }
    if not ctx.latency_ms:
        worlds["200 runs × 5,000"] = ctx.sims.get(
            "200x5k", harness.many_runs_config(200, 5_000, ROWS_PER_FILE)
        )
    report = Report("versus")
    report.rows = [
        ("messages", "sync of", f"first, median of {ctx.rounds}", "no-op", "peak RSS (tree)")
    ]
    for world, sim in worlds.items():
        found: dict[str, list[versus_revision.Synced]] = {c.label: [] for c in contestants}
        for i in range(ctx.rounds):
            for contestant in contestants if i % 2 == 0 else reversed(contestants):
                work = ctx.round_dir("versus")
                synced = versus_revision.first_and_no_op(contestant, sim, work)
                landed = warehouse_rows(str(work / "warehouse.duckdb"))
                _require(landed == ONE_MILLION, f"{contestant.label}: {landed} rows landed")
                found[contestant.label].append(synced)
                print(
                    f"  {world}, {contestant.label} #{i}: first {synced.first.seconds:.2f} s, "
                    f"no-op {synced.no_op.seconds:.2f} s, {synced.first.peak_rss_mb:.0f} MB",
                    file=sys.stderr,
                )
        for label, rounds in found.items():
            report.rows.append(
                (
                    world,
                    label,
                    fmt_s([r.first.seconds for r in rounds]),
                    fmt_s([r.no_op.seconds for r in rounds]),
                    fmt_mb([r.first.peak_rss_mb for r in rounds]),
                )
            )
        mine = found[head.label]
        for other in contestants[:-1]:
            theirs = found[other.label]
            ratio = paired_ratio([r.first for r in mine], [r.first for r in theirs])
            report.target(f"{world}: sync / {other.label}", ratio, "≤ 1.0", ratio <= 1.0)
        peak_ratio = max(r.first.peak_rss_mb for r in mine) / max(
            r.first.peak_rss_mb for r in found[contestants[0].label]
        )
        report.target(
            f"{world}: peak RSS / {contestants[0].label}", peak_ratio, "≤ 1.0", peak_ratio <= 1.0
        )
        report.data[world] = {
            label: [
                {
                    "first_s": r.first.seconds,
                    "no_op_s": r.no_op.seconds,
                    "peak_mb": r.first.peak_rss_mb,
                }
                for r in rounds
            ]
            for label, rounds in found.items()
        }
    return report


SCENARIOS: dict[str, Callable[[Context], Report]] = {
    "export-1m": export_1m,
    "scale": scale,
    "fixed-cost": fixed_cost,
    "backfill-200": backfill_200,
    "postgres": postgres,
    "api-cost": api_cost,
    "latency": latency,
    "versus": versus,
}
# `all` runs every scenario but `versus`, which needs a revision to compare with.
EVERY = [name for name in SCENARIOS if name != "versus"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed rounds per contestant (export-1m)"
    )
    parser.add_argument(
        "--dagster-postgres",
        action="store_true",
        help="backfill-200 also with the Dagster instance on PostgreSQL (dagster-postgres)",
    )
    parser.add_argument(
        "--long-rounds", type=int, default=1, help="timed rounds of backfill-200 and postgres"
    )
    parser.add_argument("--rev", default=None, help="versus: the git revision to compare with")
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="versus: the simulator answers each request this much later (a remote vendor)",
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="scratch space (default: a temp dir)"
    )
    args = parser.parse_args()
    names = EVERY if args.scenario == "all" else [args.scenario]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    started = time.perf_counter()
    reports = []
    with contextlib.ExitStack() as stack:
        work = args.work_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="nudge-bench-"))
        )
        ctx = Context(
            Simulators(stack, work),
            work,
            args.rounds,
            args.long_rounds,
            args.dagster_postgres,
            stamp,
            args.rev,
            args.latency_ms,
        )
        warm_bytecode()
        for name in names:
            begun = time.perf_counter()
            print(f"== {name}", file=sys.stderr)
            report = SCENARIOS[name](ctx)
            report.data["scenario_seconds"] = time.perf_counter() - begun
            report.print()
            report.save(stamp)
            reports.append(report)
    missed = [f"{r.scenario}: {t.name}" for r in reports for t in r.targets if not t.met]
    print(
        f"\n{len(reports)} scenario(s) in {time.perf_counter() - started:.0f} s; "
        f"results in {harness.RESULTS_DIR}"
    )
    if missed:
        print("targets missed: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
