"""Running contestants for `bench/run.py`: simulators, environments, process-tree peak RSS.

Every contestant is a separate program started the same way: a fresh interpreter whose peak
resident memory is the sum over its process tree, polled while it runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from nudge_pipeline.simulator import SimConfig, SimHandle, run_simulator
from nudge_pipeline.sync import INSTANCE_YAML, simulator_environment

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_INSTANCE_YAML = BENCH_DIR.parent / "dagster_home" / "dagster.yaml"
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable
CLI = str(Path(sys.executable).with_name("nudge-pipeline"))
BASELINES = str(BENCH_DIR / "baselines.py")
POLL_SECONDS = 0.05
PUBLISH = "POST /v1/messages/publish"
PAGES = "POST /v1/messages/pages"
FETCH = "POST /v1/messages/fetch"


@dataclass
class Measured:
    """One program run: wall seconds from spawn to exit, peak RSS of its tree, its output."""

    label: str
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    result: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0  # epoch seconds at spawn, to line up with the simulator's clock

    def check(self) -> Measured:
        if self.returncode != 0:
            tail = "\n".join((self.stderr or self.stdout).splitlines()[-25:])
            raise RuntimeError(f"{self.label} exited with {self.returncode}:\n{tail}")
        return self


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += member.memory_info().rss
    return total


def run_measured(
    label: str,
    command: Sequence[str],
    env: dict[str, str],
    timeout: float = 1800.0,
    cwd: Path | None = None,
) -> Measured:
    """Run `command`, polling the RSS of it and all its children until it exits."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started_at = time.time()
        started = time.perf_counter()
        child = subprocess.Popen(list(command), env=env, stdout=out, stderr=err, cwd=cwd)
        process = psutil.Process(child.pid)
        peak = 0
        deadline = started + timeout
        while child.poll() is None:
            peak = max(peak, _tree_rss(process))
            if time.perf_counter() > deadline:
                child.kill()
                child.wait()
                raise TimeoutError(f"{label} ran longer than {timeout:.0f}s")
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    measured = Measured(
        label, seconds, peak / 2**20, child.returncode, stdout, stderr, started_at=started_at
    )
    last = stdout.strip().splitlines()[-1:] if stdout.strip() else []
    if last and last[0].startswith("{"):
        with contextlib.suppress(ValueError):
            measured.result = json.loads(last[0])
    return measured


def program_env() -> dict[str, str]:
    """The environment every contestant starts with.

    Bytecode is cached (in a folder of the bench's own), as on any machine where Python may
    write it: otherwise each start would recompile every imported module from source.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUDGESCRIBE_", "NUDGE_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(RESULTS_DIR / "pycache")
    env["COLUMNS"] = "120"
    return env


def sync_env(sim: SimHandle, work: Path, warehouse_url: str | None = None) -> dict[str, str]:
    """What a user sets for `nudge-pipeline sync` (design.md), with fresh lake and instance."""
    return {
        **program_env(),
        **simulator_environment(sim),
        "NUDGE_LAKE_ROOT": str(work / "lake"),
        "NUDGE_WAREHOUSE_URL": warehouse_url or f"duckdb:///{work / 'warehouse.duckdb'}",
        "DAGSTER_HOME": str(work / "dagster_home"),
    }


_CREATE_INSTANCE = (
    "from nudge_pipeline.sync import prepare_environment; prepare_environment(None, None, None); "
    "import dagster as dg; dg.DagsterInstance.get().dispose()"
)


def postgres_instance_yaml(url: str) -> str:
    """The instance `sync` creates in a new DAGSTER_HOME, with its storage on PostgreSQL."""
    config = yaml.safe_load(INSTANCE_YAML)
    config["storage"] = {"postgres": {"postgres_url": url}}
    return yaml.safe_dump(config)


def run_sync(
    label: str,
    sim: SimHandle,
    work: Path,
    warehouse_url: str | None = None,
    dagster_postgres_url: str | None = None,
    sync_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 1800.0,
) -> Measured:
    """`nudge-pipeline sync [sync_args]` on an existing, empty Dagster instance (created once).

    The instance keeps its runs and event log in SQLite files (the default), or in the
    PostgreSQL database at `dagster_postgres_url`. `extra_env` adds settings (NUDGE_*).
    """
    work.mkdir(parents=True, exist_ok=True)
    env = {**sync_env(sim, work, warehouse_url), **(extra_env or {})}
    home = work / "dagster_home"
    if not home.exists():
        home.mkdir()
        if dagster_postgres_url:
            (home / "dagster.yaml").write_text(postgres_instance_yaml(dagster_postgres_url))
        else:  # the project's own local instance, as users run it
            shutil.copy(PROJECT_INSTANCE_YAML, home / "dagster.yaml")
        run_measured(f"{label}: instance", [PYTHON, "-c", _CREATE_INSTANCE], env).check()
    return run_measured(label, [CLI, "sync", *sync_args], env, timeout).check()


def run_baseline(label: str, args: Sequence[str], env: dict[str, str] | None = None) -> Measured:
    return run_measured(label, [PYTHON, BASELINES, *args], env or program_env()).check()


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def single_run_config(messages: int, rows_per_file: int = 10_000, **extra: Any) -> SimConfig:
    """One Published campaign with one completed run of `messages` messages."""
    return SimConfig(
        workspaces=1,
        campaigns_per_stage=1,
        runs_per_campaign=1,
        customer_groups=1,
        customers_per_group=10,
        messages_per_run=messages,
        rows_per_file=rows_per_file,
        export_duration=0,
        **extra,
    )


def many_runs_config(runs: int, messages: int, rows_per_file: int) -> SimConfig:
    """One Published campaign with `runs` completed runs (a third run slot is a failed one)."""
    return (
        single_run_config(messages, rows_per_file)
        if runs == 1
        else SimConfig(
            workspaces=1,
            campaigns_per_stage=1,
            # With three or more runs the simulator makes the second one a failed run.
            runs_per_campaign=runs + 1,
            customer_groups=1,
            customers_per_group=10,
            messages_per_run=messages,
            rows_per_file=rows_per_file,
            export_duration=0,
        )
    )


@contextlib.contextmanager
def simulator(config: SimConfig, data_dir: Path) -> Iterator[SimHandle]:
    with run_simulator(config, data_dir=fresh_dir(data_dir)) as sim:
        yield sim


def prepare_exports(sim: SimHandle, workers: int = 8) -> int:
    """Have the vendor render every eligible run's export before anything is timed.

    Publishes each completed run of a Published campaign once and waits for completion, so
    no contestant waits for the vendor's export job (see README: fairness). Returns the
    number of export files.
    """
    sys.path.insert(0, str(BENCH_DIR))
    from baselines import _api_session, _export_files, _published_runs

    for name, value in simulator_environment(sim).items():
        os.environ[name] = value
    session, base, headers = _api_session()
    try:
        targets = _published_runs(session, base, headers)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return sum(pool.map(lambda t: _export_files(session, base, headers, t), targets))
    finally:
        session.close()


def export_csv_dir(sim: SimHandle) -> Path:
    return sim.data_dir / "exports"


@contextlib.contextmanager
def instance_at(dagster_home: Path) -> Iterator[Any]:
    """The Dagster instance a finished sync wrote to (DAGSTER_HOME set while it is open)."""
    import dagster as dg

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with dg.DagsterInstance.get() as instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def load_seconds(dagster_home: Path) -> float:
    """Seconds of the warehouse replaces, from the `messages` materializations' metadata."""
    import dagster as dg

    with instance_at(dagster_home) as instance:
        records = instance.fetch_materializations(dg.AssetKey("messages"), limit=1000).records
        return sum(
            float(getattr(r.asset_materialization.metadata.get("load_seconds"), "value", 0.0))
            for r in records
            if r.asset_materialization is not None
        )


def step_seconds(dagster_home: Path) -> dict[str, float]:
    """Seconds per step (summed over the sync's runs) from the instance's event log."""
    with instance_at(dagster_home) as instance:
        totals: dict[str, float] = {}
        for run in instance.get_runs():
            for step in instance.get_run_step_stats(run.run_id):
                if step.start_time is None or step.end_time is None:
                    continue
                seconds = step.end_time - step.start_time
                totals[step.step_key] = totals.get(step.step_key, 0.0) + seconds
            stats = instance.get_run_stats(run.run_id)
            if stats.start_time and stats.end_time:
                totals["(runs)"] = totals.get("(runs)", 0.0) + stats.end_time - stats.start_time
        return totals


def sim_calls(sim: SimHandle) -> dict[str, int]:
    return {k: int(v) for k, v in sim.stats()["calls"].items()}
