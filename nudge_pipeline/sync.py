"""What `nudge-pipeline sync` and `demo` do around the sync engine: settings, progress, summary."""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from nudge_pipeline.settings import default_of, load_settings


def _instance_yaml_path() -> Path:
    # A wheel ships dagster_home/dagster.yaml inside the package; a source checkout reads
    # the repository's own.
    package = Path(__file__).resolve().parent
    packaged = package / "dagster_home" / "dagster.yaml"
    return packaged if packaged.is_file() else package.parent / "dagster_home" / "dagster.yaml"


# The instance `sync` and `demo` create in a new DAGSTER_HOME: the project's own
# dagster_home/dagster.yaml, so the pool limit and the storage are set in one place.
INSTANCE_YAML = _instance_yaml_path().read_text(encoding="utf-8")


def absolute_lake_root(root: str) -> str:
    if "://" in root and not root.startswith("file://"):
        return root
    return str(Path(root.removeprefix("file://")).expanduser().resolve())


def absolute_warehouse_url(url: str) -> str:
    """duckdb:///relative.duckdb → an absolute path, so every process finds the same file."""
    for prefix in ("duckdb:///", "sqlite:///"):
        if url.startswith(prefix):
            path, sep, query = url[len(prefix) :].partition("?")
            if path and path != ":memory:" and not path.startswith("/"):
                path = str(Path(path).resolve())
            return f"{prefix}{path}{sep}{query}"
    return url


def prepare_environment(
    lake_root: str | None, warehouse_url: str | None, dagster_home: str | None
) -> dict[str, str]:
    """Fill NUDGE_LAKE_ROOT, NUDGE_WAREHOUSE_URL and DAGSTER_HOME (absolute) in os.environ.

    Arguments win over the settings; a malformed setting raises SettingsError.
    """
    configured = load_settings()
    lake = lake_root or configured.lake_root
    url = warehouse_url or configured.warehouse_url.get_secret_value()
    home = Path(dagster_home or configured.dagster_home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(INSTANCE_YAML)
    settings = {
        "NUDGE_LAKE_ROOT": absolute_lake_root(lake),
        "NUDGE_WAREHOUSE_URL": absolute_warehouse_url(url),
        "DAGSTER_HOME": str(home),
    }
    os.environ.update(settings)
    return settings


def quiet_libraries(verbose: bool) -> None:
    warnings.filterwarnings("ignore", module=r"dagster(\.|$)")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    level = logging.INFO if verbose else logging.ERROR
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("nudge_pipeline", "dagster", "alembic"):
        logging.getLogger(name).setLevel(level)


class ProgressDisplay:
    """Rich progress bars over campaign runs and export files, fed by engine events."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.phase = self.progress.add_task("discovery", total=None)
        self.runs = self.progress.add_task("campaign runs", total=0, visible=False)
        self.files = self.progress.add_task("files", total=0, visible=False)
        self._lock = threading.Lock()
        self._file_total = 0
        # Runs whose files are counted: the sync's start-up plans them, then its Dagster run.
        self._planned: set[str] = set()

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._handle(event, data)

    def _handle(self, event: str, data: dict[str, Any]) -> None:
        p = self.progress
        if event == "phase":
            p.update(self.phase, description=str(data["name"]))
            if data["name"] == "campaign_runs":
                p.update(self.runs, total=data.get("total", 0), visible=True)
                p.update(self.files, visible=True)
        elif event == "files_planned":
            if data.get("key") in self._planned:
                return
            self._planned.add(str(data.get("key")))
            self._file_total += int(data.get("total", 0))
            p.update(self.files, total=self._file_total)
            p.advance(self.files, int(data.get("already", 0)))
        elif event == "file_landed":
            p.advance(self.files)
        elif event == "run_done":
            p.advance(self.runs)

    @contextmanager
    def shown(self) -> Iterator[ProgressDisplay]:
        with self.progress:
            yield self
            self.progress.update(self.phase, description="done", total=1, completed=1)


# Beyond this many rows the table only lists failures; the totals line counts every run.
# (A large account lists hundreds of ineligible runs, and rich takes seconds to lay them out.)
SUMMARY_ROWS = 40
# The compact summary fits an 80-column terminal: long campaign names are cut with an ellipsis.
SUMMARY_WIDTH = 80
CAMPAIGN_WIDTH = 32
_STATE_ORDER = {"failed": 0, "not attempted": 1, "landed": 2, "up to date": 3, "skipped": 4}


def summary_table(report: Any) -> Table:
    """Every run on its own row, notes in full (`sync --details`)."""
    table = Table(title="campaign runs", show_lines=False)
    for column in ("campaign", "run", "stage", "result", "files", "rows", "note"):
        table.add_column(column, justify="right" if column in ("files", "rows") else "left")
    for run in _ordered(report.runs):
        table.add_row(
            run.campaign_name or run.campaign_id,
            run.run_id[:12],
            run.stage,
            run.state,
            str(run.files) if run.files else "",
            f"{run.rows:,}" if run.rows else "",
            run.reason,
        )
    return table


def compact_summary(report: Any) -> Group:
    """One line per landed or failed run (names cut to fit), one line per reason for the rest."""
    parts: list[RenderableType] = []
    runs = _ordered(report.runs)
    landed = [r for r in runs if r.state == "landed"]
    failed = [r for r in runs if r.state == "failed"]
    if failed:
        parts.append(_run_lines("failed", failed, "reason", lambda r: r.reason))
    if landed:
        shown = landed[:SUMMARY_ROWS]
        table = _run_lines("landed", shown, "rows", lambda r: f"{r.rows:,}")
        if len(shown) < len(landed):
            table.caption = f"{len(landed) - len(shown)} more landed run(s); --details lists all"
        parts.append(table)
    for state in ("not attempted", "skipped"):
        by_reason: dict[str, int] = {}
        for run in runs:
            if run.state == state:
                by_reason[run.reason] = by_reason.get(run.reason, 0) + 1
        for reason, count in sorted(by_reason.items(), key=lambda item: (-item[1], item[0])):
            line = Text(f"{state} {count:,} run(s)", style="bold")
            line.append(f": {reason}" if reason else "")
            line.truncate(SUMMARY_WIDTH, overflow="ellipsis")
            parts.append(line)
    return Group(*parts)


def _run_lines(title: str, runs: list[Any], last: str, value: Any) -> Table:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    table.add_column("campaign", no_wrap=True, overflow="ellipsis", max_width=CAMPAIGN_WIDTH)
    table.add_column("run", no_wrap=True, min_width=8)
    table.add_column("files", justify="right", no_wrap=True, min_width=5)
    table.add_column(
        last, no_wrap=True, overflow="ellipsis", justify="left" if last == "reason" else "right"
    )
    for run in runs:
        table.add_row(
            run.campaign_name or run.campaign_id,
            run.run_id[:8],
            str(run.files) if run.files else "",
            value(run),
        )
    return table


def _ordered(runs: Sequence[Any]) -> list[Any]:
    return sorted(
        runs, key=lambda r: (_STATE_ORDER.get(r.state, 5), r.campaign_name, r.campaign_id, r.run_id)
    )


def totals_line(report: Any) -> str:
    landed = [r for r in report.runs if r.state == "landed"]
    current = [r for r in report.runs if r.state == "up to date"]
    skipped = [r for r in report.runs if r.state == "skipped"]
    return (
        f"{len(landed)} run(s) landed ({sum(r.rows for r in landed):,} messages), "
        f"{len(current)} already up to date, {len(skipped)} not eligible; "
        f"{report.customers:,} customers in {report.customer_groups} group(s); "
        + ", ".join(f"{name} {rows}" for name, rows in report.snapshots.items())
    )


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector paused while Dagster and the sync are imported.

    The imports build a few hundred thousand objects that live as long as the process, and
    each full collection during them walks all of them again: importing the sync took 2.6 s
    with it and 1.5 s without on a two-core machine. Frozen afterwards, they are skipped by
    every later collection too.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def run_sync_command(campaign_ids: Sequence[str], console: Console, details: bool = False) -> Any:
    """Run the engine with progress; returns the SyncReport (environment already prepared)."""
    with collector_paused():
        from nudge_pipeline.landing.early import EarlyExports
        from nudge_pipeline.landing.record import now_iso

    display = ProgressDisplay(console)
    # Before Dagster is imported: the exports are the long pole, so they go out first.
    early = EarlyExports(load_settings(), campaign_ids, now_iso(), display).start()
    with collector_paused():
        from nudge_pipeline.defs.sync import open_instance, run_sync

        instance = open_instance()
    try:
        with display.shown():
            report = run_sync(instance, campaign_ids, listener=display, early=early)
    finally:
        instance.dispose()
    if report.runs:
        console.print(summary_table(report) if details else compact_summary(report))
    console.print(totals_line(report))
    return report


# ------------------------------------------------------------------------------- demo

DEMO_QUERY = (
    "SELECT workspace_name, campaign_name, run_number, COUNT(*) AS messages, "
    "COUNT(DISTINCT customer_id) AS customers "
    "FROM nudgescribe.campaign_messages GROUP BY ALL ORDER BY ALL"
)


def demo_sim_config() -> Any:
    """A few workspaces, a dozen campaigns over every stage, tens of thousands of messages."""
    from nudge_pipeline.simulator import SimConfig

    return SimConfig(
        seed=2024,
        workspaces=3,
        campaigns_per_stage=1,
        runs_per_campaign=3,
        messages_per_run=2_000,
        rows_per_file=1_000,
        customer_groups=2,
        customers_per_group=600,
        page_size=200,
        export_duration=0.5,
    )


def simulator_environment(handle: Any) -> dict[str, str]:
    account = handle.account
    return {
        "NUDGESCRIBE_BASE_URL": handle.base_url,
        "NUDGESCRIBE_API_CODE": account.api_code,
        "NUDGESCRIBE_API_KEY": account.api_key,
        "NUDGESCRIBE_API_SECRET": account.api_secret,
        "NUDGESCRIBE_PROFILE_KEY": account.profile_key,
    }


def run_demo(console: Console, data_dir: Path | None = None) -> Any:
    from nudge_pipeline.simulator import run_simulator

    settings = prepare_environment(default_of("lake_root"), default_of("warehouse_url"), None)
    config = demo_sim_config()
    console.print("[bold]Starting the Nudgescribe simulator[/] (seeded demo data set)…")
    with run_simulator(config, data_dir) as handle:
        # The embedded defaults point at the simulator for this process only.
        for name in ("NUDGESCRIBE_TOKEN", "NUDGESCRIBE_DOWNLOAD_HOSTS", "NUDGE_PUBLISH_STAGES"):
            os.environ.pop(name, None)
        os.environ.update(simulator_environment(handle))
        console.print(f"simulator at {handle.base_url}; syncing…")
        report = run_sync_command((), console)
        publishes = handle.stats()["calls"].get("POST /v1/messages/publish", 0)
    console.print(f"publish calls made: {publishes} (only campaigns at stage 'Published')")
    lake = settings["NUDGE_LAKE_ROOT"]
    url = settings["NUDGE_WAREHOUSE_URL"]
    database = url.removeprefix("duckdb:///")
    console.print(f"\n[bold]Landed[/]: Parquet under {lake}, warehouse {url}")
    console.print("\nQuery it (paste into a shell):")
    console.print(
        f'  {sys.executable} -c "import duckdb; duckdb.sql(\\"{DEMO_QUERY}\\", '
        f"connection=duckdb.connect('{database}', read_only=True)).show()\"",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    console.print(
        f'  or: duckdb -readonly {database} "{DEMO_QUERY}"',
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    console.print("\nOpen the Dagster UI on the same instance:")
    console.print(
        f"  DAGSTER_HOME={settings['DAGSTER_HOME']} {Path(sys.executable).with_name('dagster')} "
        "dev -w workspace.yaml",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    return report
