"""Throughput scenarios: export-1m, scale, fixed-cost and backfill-200."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import harness
from context import ONE_MILLION, ROWS_PER_FILE, Context, our_sync, require, run_dlt, run_limit
from harness import FETCH, PUBLISH, Measured
from postgres_scenario import dagster_database
from report import Report, fmt_mb, fmt_s, median, paired_ratio, rows_per_s

from nudge_pipeline.simulator import SimHandle

US_OVER_LIMIT_MAX = 1.5
DLT_OVER_US_MIN = 1.3
PEAK_RSS_MAX_MB = 300.0
SCALE_RSS_GROWTH_MAX = 1.10
MARGINAL_OVER_LIMIT_MAX = 1.3
FIXED_COST_MAX_S = 1.5
BACKFILL_OVER_SINGLE_MAX = 3.0


def export_rounds(ctx: Context, messages: int, rounds: int) -> dict[str, Any]:
    """Alternating rounds of limit, dlt and sync on the same simulator and files."""
    sim = ctx.sims.get(f"{messages}", harness.single_run_config(messages, ROWS_PER_FILE))
    runs: dict[str, list[Measured]] = {"limit": [], "dlt": [], "us": []}
    steps: list[dict[str, float]] = []
    contestants: dict[str, Callable[[int], Measured]] = {
        "limit": lambda i: run_limit(ctx, sim, f"limit #{i}"),
        "dlt": lambda i: run_dlt(ctx, sim, f"dlt #{i}"),
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
            require(
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
        limit = run_limit(ctx, sim, f"limit {messages:,}")
        require(limit.result.get("rows") == messages, f"limit landed {limit.result}")
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
    require(calls.get(PUBLISH, 0) == 0 and calls.get(FETCH, 0) == 0, f"no-op sync: {calls}")
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
    for step, step_s in sorted(per_no_op.items(), key=lambda item: -item[1]):
        name = "all its Dagster runs, start to end" if step == "(runs)" else f"step `{step}`"
        report.rows.append((name, f"{step_s:.2f} s"))
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
