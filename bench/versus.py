"""`bench/run.py versus --rev REV`: this checkout's `sync` against an earlier revision's.

"Does not regress" and "does not grow" need the earlier code measured on the same machine in
the same run, not figures from another day. The revision is exported with `git archive` into
the scratch folder and gets its own virtualenv (its own `scripts/bootstrap.sh` and lock).

Contestants, alternated round by round against the same simulators and prepared exports:
- the revision with its own `dagster_home/dagster.yaml`;
- the revision with Dagster's plain `storage: sqlite`, when its own instance used something
  else (the custom SQLite storage of 2026-11-26: the public path's cost, shown apart);
- this checkout.
Each round times a first sync on a fresh lake, warehouse and instance, then a second sync
with nothing new (the fixed cost).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
import yaml
from context import ONE_MILLION, ROWS_PER_FILE, Context, require, warehouse_rows
from harness import Measured
from report import Report, fmt_mb, fmt_s, paired_ratio

from nudge_pipeline.simulator import SimHandle

PUBLIC_SQLITE_STORAGE = {"sqlite": {"base_dir": {"env": "DAGSTER_HOME"}}}
PROJECT_ROOT = harness.BENCH_DIR.parent


@dataclass(frozen=True)
class Contestant:
    label: str
    root: Path  # the project folder: its .venv, and the working folder of its processes
    instance_yaml: dict[str, Any]

    @property
    def python(self) -> str:
        return str(self.root / ".venv" / "bin" / "python")

    @property
    def cli(self) -> str:
        return str(self.root / ".venv" / "bin" / "nudge-pipeline")


@dataclass
class Synced:
    first: Measured
    no_op: Measured


def revision_tree(rev: str, work: Path) -> tuple[str, Path]:
    """The revision's files in `work`, with its virtualenv built; (short sha, folder)."""
    sha = _git("rev-parse", "--short", f"{rev}^{{commit}}").strip()
    root = work / f"rev-{sha}"
    if not (root / ".venv" / "bin" / "nudge-pipeline").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "archive", "--format=tar", sha],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
        subprocess.run(["bash", "scripts/bootstrap.sh"], cwd=root, check=True)
    return sha, root


def contestants(rev: str, work: Path) -> list[Contestant]:
    sha, root = revision_tree(rev, work)
    own = yaml.safe_load((root / "dagster_home" / "dagster.yaml").read_text())
    found = [Contestant(sha, root, own)]
    if own.get("storage") != PUBLIC_SQLITE_STORAGE:
        found.append(
            Contestant(f"{sha}, storage: sqlite", root, own | {"storage": PUBLIC_SQLITE_STORAGE})
        )
    head = yaml.safe_load(harness.PROJECT_INSTANCE_YAML.read_text())
    found.append(Contestant("this checkout", PROJECT_ROOT, head))
    return found


def warm_bytecode(contestant: Contestant) -> None:
    """Compile what a sync imports into the bench's bytecode cache, outside the timing."""
    imports = "import nudge_pipeline.cli, nudge_pipeline.sync, dagster, duckdb, pyarrow.parquet"
    harness.run_measured(
        f"{contestant.label}: warm-up",
        [contestant.python, "-c", imports],
        harness.program_env(),
        cwd=contestant.root,
    ).check()


def syncs(
    contestant: Contestant, sim: SimHandle, work: Path, names: Sequence[str]
) -> list[Measured]:
    """Syncs one after another (the first on a fresh instance, lake and warehouse)."""
    env = harness.sync_env(sim, work)
    home = work / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(contestant.instance_yaml))
    create = "import dagster as dg; dg.DagsterInstance.get().dispose()"
    label = f"{contestant.label}: instance"
    harness.run_measured(label, [contestant.python, "-c", create], env, cwd=contestant.root).check()
    return [
        harness.run_measured(
            f"{contestant.label}: sync {n}", [contestant.cli, "sync"], env, cwd=contestant.root
        ).check()
        for n in names
    ]


def first_and_no_op(contestant: Contestant, sim: SimHandle, work: Path) -> Synced:
    """A first sync on a fresh instance, lake and warehouse, then one with nothing new."""
    return Synced(*syncs(contestant, sim, work, ("first", "no-op")))


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), *args], check=True, capture_output=True, text=True
    ).stdout


def versus(ctx: Context) -> Report:
    """This checkout against `--rev` on the 1M run and on 200 runs × 5,000 (versus.py)."""
    if not ctx.rev:
        raise SystemExit("versus needs --rev REV (the revision to compare with)")
    entrants = contestants(ctx.rev, ctx.work)
    head = entrants[-1]
    for contestant in entrants:
        warm_bytecode(contestant)
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
        found: dict[str, list[Synced]] = {c.label: [] for c in entrants}
        for i in range(ctx.rounds):
            for contestant in entrants if i % 2 == 0 else reversed(entrants):
                work = ctx.round_dir("versus")
                synced = first_and_no_op(contestant, sim, work)
                landed = warehouse_rows(str(work / "warehouse.duckdb"))
                require(landed == ONE_MILLION, f"{contestant.label}: {landed} rows landed")
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
        for other in entrants[:-1]:
            theirs = found[other.label]
            ratio = paired_ratio([r.first for r in mine], [r.first for r in theirs])
            report.target(f"{world}: sync / {other.label}", ratio, "≤ 1.0", ratio <= 1.0)
        peak_ratio = max(r.first.peak_rss_mb for r in mine) / max(
            r.first.peak_rss_mb for r in found[entrants[0].label]
        )
        report.target(
            f"{world}: peak RSS / {entrants[0].label}", peak_ratio, "≤ 1.0", peak_ratio <= 1.0
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
