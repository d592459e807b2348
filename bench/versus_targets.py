"""`bench/run.py versus-targets --rev REV`: the throughput targets, REV and this checkout
side by side.

`export-1m`, `scale` and `fixed-cost` measure this checkout alone. Here every round runs, in
alternating order, the limit, dlt's Arrow path, REV's `sync` and this checkout's `sync` on
the same 1M export (each first sync followed by a no-op sync), then the limit and both
syncs on the 5M export (`--long-rounds`). Each revision's ratios pair its syncs with the
baselines of the same round, so a before/after row is measured side by side.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import harness
from context import (
    ONE_MILLION,
    ROWS_PER_FILE,
    Context,
    require,
    run_dlt,
    run_limit,
    warehouse_rows,
)
from harness import Measured
from report import Report, fmt_s, median, paired_ratio
from throughput import (
    DLT_OVER_US_MIN,
    FIXED_COST_MAX_S,
    MARGINAL_OVER_LIMIT_MAX,
    PEAK_RSS_MAX_MB,
    SCALE_RSS_GROWTH_MAX,
    US_OVER_LIMIT_MAX,
    cost_line,
)
from versus import Contestant, contestants, syncs, warm_bytecode

from nudge_pipeline.simulator import SimHandle

SIZES = (ONE_MILLION, 5 * ONE_MILLION)


@dataclass(frozen=True)
class Figures:
    """One revision's figures against the #18 targets."""

    sync_1m_s: float
    over_limit: float
    dlt_over_sync: float
    no_op_s: float
    marginal_over_limit: float
    intercept_s: float
    peak_1m_mb: float
    growth_5m: float

    def cells(self) -> tuple[str, ...]:
        return (
            f"{self.sync_1m_s:.2f} s",
            f"{self.over_limit:.2f}",
            f"{self.dlt_over_sync:.2f}",
            f"{self.no_op_s:.2f} s",
            f"{self.marginal_over_limit:.2f}",
            f"{self.intercept_s:.2f} s",
            f"{self.peak_1m_mb:.0f} MB",
            f"{self.growth_5m:.2f}",
        )


def _sync_rounds(
    contestant: Contestant, ctx: Context, sim: SimHandle, messages: int
) -> Callable[[int], list[Measured]]:
    names = ("first", "no-op") if messages == ONE_MILLION else ("first",)

    def run(i: int) -> list[Measured]:
        work = ctx.round_dir("versus-targets")
        measured = syncs(contestant, sim, work, names)
        landed = warehouse_rows(str(work / "warehouse.duckdb"))
        require(landed == messages, f"{contestant.label} #{i}: {landed} rows landed")
        return measured

    return run


def _baseline_rounds(
    ctx: Context, sim: SimHandle, messages: int
) -> dict[str, Callable[[int], list[Measured]]]:
    jobs: dict[str, Callable[[int], list[Measured]]] = {
        "limit": lambda i: [run_limit(ctx, sim, f"limit {messages:,} #{i}")]
    }
    if messages == ONE_MILLION:
        jobs["dlt"] = lambda i: [run_dlt(ctx, sim, f"dlt #{i}")]
    return jobs


def _alternate(
    jobs: dict[str, Callable[[int], list[Measured]]], rounds: int
) -> dict[str, list[list[Measured]]]:
    found: dict[str, list[list[Measured]]] = {name: [] for name in jobs}
    for i in range(rounds):
        for name in list(jobs) if i % 2 == 0 else list(reversed(jobs)):
            measured = jobs[name](i)
            found[name].append(measured)
            print(
                f"  {name} #{i}: "
                + ", ".join(f"{m.seconds:.2f} s, {m.peak_rss_mb:.0f} MB" for m in measured),
                file=sys.stderr,
            )
    return found


def _figures(label: str, found: dict[int, dict[str, list[list[Measured]]]]) -> Figures:
    small, big = (found[n] for n in SIZES)
    first = [r[0] for r in small[label]]
    limit = {n: [r[0] for r in found[n]["limit"]] for n in SIZES}
    line = cost_line({n: [r[0].seconds for r in found[n][label]] for n in SIZES})
    limit_line = cost_line({n: [m.seconds for m in limit[n]] for n in SIZES})
    peak_1m = max(m.peak_rss_mb for m in first)
    return Figures(
        sync_1m_s=median([m.seconds for m in first]),
        over_limit=paired_ratio(first, limit[ONE_MILLION]),
        dlt_over_sync=paired_ratio([r[0] for r in small["dlt"]], first),
        no_op_s=median([r[1].seconds for r in small[label]]),
        marginal_over_limit=line.per_million / limit_line.per_million,
        intercept_s=line.fixed,
        peak_1m_mb=peak_1m,
        growth_5m=max(r[0].peak_rss_mb for r in big[label]) / peak_1m,
    )


def versus_targets(ctx: Context) -> Report:
    """The #18 targets for `--rev` and for this checkout, measured in the same rounds."""
    if not ctx.rev:
        raise SystemExit("versus-targets needs --rev REV (the revision to compare with)")
    entrants = contestants(ctx.rev, ctx.work)
    for contestant in entrants:
        warm_bytecode(contestant)
    found: dict[int, dict[str, list[list[Measured]]]] = {}
    for messages, rounds in zip(SIZES, (ctx.rounds, ctx.long_rounds), strict=True):
        sim = ctx.sims.get(f"{messages}", harness.single_run_config(messages, ROWS_PER_FILE))
        jobs = _baseline_rounds(ctx, sim, messages)
        for contestant in entrants:
            jobs[contestant.label] = _sync_rounds(contestant, ctx, sim, messages)
        found[messages] = _alternate(jobs, rounds)
        for (limit,) in found[messages]["limit"]:
            require(limit.result.get("rows") == messages, f"{limit.label} landed {limit.result}")
        if messages != ONE_MILLION:
            ctx.sims.close(f"{messages}")

    report = Report("versus-targets")
    report.rows = [
        (
            "sync of",
            "1M sync",
            "sync / limit",
            "dlt / sync",
            "no-op sync",
            "each further 1M: sync / limit",
            "intercept 1M, 5M",
            "peak RSS at 1M",
            "peak RSS 5M / 1M",
        ),
        (
            "goal",
            "",
            f"≤ {US_OVER_LIMIT_MAX}",
            f"≥ {DLT_OVER_US_MIN}",
            f"≤ {FIXED_COST_MAX_S} s",
            f"≤ {MARGINAL_OVER_LIMIT_MAX}",
            f"≤ {FIXED_COST_MAX_S} s",
            f"≤ {PEAK_RSS_MAX_MB:.0f} MB",
            f"≤ {SCALE_RSS_GROWTH_MAX}",
        ),
    ]
    figures = {c.label: _figures(c.label, found) for c in entrants}
    for label, figure in figures.items():
        report.rows.append((label, *figure.cells()))
    limits = {n: [r[0].seconds for r in found[n]["limit"]] for n in SIZES}
    report.rows.append(
        ("(the limit: 1M; 5M)", f"{fmt_s(limits[ONE_MILLION])}; {fmt_s(limits[SIZES[1]])}")
    )
    head = figures[entrants[-1].label]
    report.target("sync / limit", head.over_limit, "≤ 1.5", head.over_limit <= US_OVER_LIMIT_MAX)
    report.target("dlt / sync", head.dlt_over_sync, "≥ 1.3", head.dlt_over_sync >= DLT_OVER_US_MIN)
    report.target(
        "no-op sync", head.no_op_s, "≤ 1.5 s", head.no_op_s <= FIXED_COST_MAX_S, "{:.2f} s"
    )
    report.target(
        "each further 1M: sync / limit",
        head.marginal_over_limit,
        "≤ 1.3",
        head.marginal_over_limit <= MARGINAL_OVER_LIMIT_MAX,
    )
    report.target(
        "intercept", head.intercept_s, "≤ 1.5 s", head.intercept_s <= FIXED_COST_MAX_S, "{:.2f} s"
    )
    report.target(
        "peak RSS at 1M",
        head.peak_1m_mb,
        "≤ 300 MB",
        head.peak_1m_mb <= PEAK_RSS_MAX_MB,
        "{:.0f} MB",
    )
    report.target(
        "peak RSS 5M / 1M", head.growth_5m, "≤ 1.1", head.growth_5m <= SCALE_RSS_GROWTH_MAX
    )
    report.data = {
        "figures": {label: figure.__dict__ for label, figure in figures.items()},
        "seconds": {
            n: {name: [[m.seconds for m in r] for r in rounds] for name, rounds in by.items()}
            for n, by in found.items()
        },
        "peak_mb": {
            n: {name: [[m.peak_rss_mb for m in r] for r in rounds] for name, rounds in by.items()}
            for n, by in found.items()
        },
    }
    return report
