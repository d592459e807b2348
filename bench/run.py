"""Whole-pipeline benchmarks: `nudge-pipeline sync` against baselines, in the same run.

    .venv/bin/python bench/run.py export-1m|scale|backfill-200|postgres|api-cost|latency|all
        [--rounds N] [--long-rounds N] [--work-dir DIR]
    .venv/bin/python bench/run.py versus --rev REV [--rounds N]
    .venv/bin/python bench/run.py versus-targets --rev REV [--rounds N] [--long-rounds N]

Each scenario prints a markdown table and writes JSON to bench/results/. The exit status is 1
when a target is missed. See bench/README.md for what each baseline is and why it is fair.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from api_scenarios import api_cost, latency  # noqa: E402
from context import Context, Simulators, warm_bytecode  # noqa: E402
from postgres_scenario import postgres  # noqa: E402
from report import Report  # noqa: E402
from throughput import backfill_200, export_1m, fixed_cost, scale  # noqa: E402
from versus import versus  # noqa: E402
from versus_targets import versus_targets  # noqa: E402

SCENARIOS: dict[str, Callable[[Context], Report]] = {
    "export-1m": export_1m,
    "scale": scale,
    "fixed-cost": fixed_cost,
    "backfill-200": backfill_200,
    "postgres": postgres,
    "api-cost": api_cost,
    "latency": latency,
    "versus": versus,
    "versus-targets": versus_targets,
}
# `all` runs every scenario but the two that need a revision to compare with.
EVERY = [name for name in SCENARIOS if not name.startswith("versus")]


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
    parser.add_argument(
        "--rev", default=None, help="versus, versus-targets: the git revision to compare with"
    )
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
