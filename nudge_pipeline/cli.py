"""The `nudge-pipeline` command."""

import functools
import gc
import importlib.util
from collections.abc import Callable
from typing import Annotated, Any

import typer

app = typer.Typer(help="Land Nudgescribe data as Parquet files and warehouse tables.")


@app.command()
def sync(
    campaign: Annotated[
        list[str] | None,
        typer.Option("--campaign", help="Only this campaign id (repeatable). Default: all."),
    ] = None,
    lake_root: Annotated[
        str | None, typer.Option(help="Lake root [env NUDGE_LAKE_ROOT; default data/lake]")
    ] = None,
    warehouse_url: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL [env NUDGE_WAREHOUSE_URL; default duckdb:///data/warehouse.duckdb]"
        ),
    ] = None,
    dagster_home: Annotated[
        str | None,
        typer.Option(help="Dagster instance folder [env DAGSTER_HOME; default dagster_home]"),
    ] = None,
    details: Annotated[
        bool, typer.Option("--details", help="List every run with its full note.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show library logs.")] = False,
) -> None:
    """Discover campaign runs, register them in Dagster and materialize what is new."""
    from rich.console import Console

    from nudge_pipeline.sync import prepare_environment, quiet_libraries, run_sync_command

    settings = _settings_or_exit()
    problem = settings.missing_api_message()
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(code=2)
    quiet_libraries(verbose)
    prepare_environment(lake_root, warehouse_url, dagster_home)
    console = Console()
    report = run_sync_command(campaign or [], console, details=details)
    # Everything is written, committed and closed by now. Left to the collector, tearing
    # down Dagster's, DuckDB's and pyarrow's objects at exit takes about half a second.
    gc.freeze()
    _exit_on_failures(report)


@app.command()
def check() -> None:
    """Check the settings, the API login and listing, the lake and the warehouse."""
    from nudge_pipeline.check import run_checks

    failed = False
    for result in run_checks():
        typer.echo(result.line())
        failed = failed or result.ok is not True
    if failed:
        raise typer.Exit(code=1)


@app.command()
def plan(
    campaign: Annotated[
        list[str] | None,
        typer.Option("--campaign", help="Only this campaign id (repeatable). Default: all."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Show what a sync would publish (and the quota it spends), reuse and skip; changes nothing."""
    import json

    from nudge_pipeline.lake import Lake
    from nudge_pipeline.landing.failures import cause_of, describe
    from nudge_pipeline.landing.plan import PUBLISH, plan_sync
    from nudge_pipeline.nudgescribe import ClientConfig, NudgescribeClient

    settings = _settings_or_exit()
    missing = settings.missing_api_message()
    if missing:
        typer.echo(f"error: {missing}", err=True)
        raise typer.Exit(code=2)
    try:
        with NudgescribeClient(ClientConfig.from_settings(settings)) as client:
            the_plan = plan_sync(
                client, Lake(settings.lake_root), settings.publish_stages, campaign or []
            )
    except Exception as exc:
        typer.echo(f"error: {cause_of(exc)}: {describe(exc)}", err=True)
        raise typer.Exit(code=1) from None
    if as_json:
        typer.echo(json.dumps(the_plan.as_json(), indent=2, ensure_ascii=False))
        return
    counts = the_plan.counts()
    typer.echo(
        f"would publish {the_plan.quota} run(s) (spends {the_plan.quota} of the account's "
        f"quota), reuse {counts['reuse']}, leave {counts['up to date']} up to date, "
        f"skip {counts['skip']}"
    )
    for run in the_plan.runs:
        if run.action == PUBLISH:
            typer.echo(f"  publish  {run.campaign_name or run.campaign_id}  run {run.run_id}")
    for reason, count in the_plan.skip_reasons().most_common():
        typer.echo(f"  skip {count:>4}  {reason}")
    for campaign_id, error in the_plan.unreadable_campaigns.items():
        typer.echo(f"error: campaign {campaign_id}: run history unreadable: {error}", err=True)


def _settings_or_exit() -> Any:
    from nudge_pipeline.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None


def _require_simulator() -> None:
    """The simulator's server comes with the `simulator` extra; say so instead of a traceback."""
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        typer.echo(
            f"error: the simulator needs {' and '.join(missing)}, which come with the "
            "`simulator` extra: pip install 'nudge-pipeline[simulator]'",
            err=True,
        )
        raise typer.Exit(code=2)


def _with_simulator(command: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        _require_simulator()
        command(*args, **kwargs)

    return run


@app.command()
def demo(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Start the seeded simulator, sync it into data/lake and data/warehouse.duckdb."""
    from rich.console import Console

    from nudge_pipeline.sync import quiet_libraries, run_demo

    _require_simulator()
    _settings_or_exit()
    quiet_libraries(verbose)
    report = run_demo(Console())
    _exit_on_failures(report)


def _exit_on_failures(report: object) -> None:
    lines = report.failure_lines()  # type: ignore[attr-defined]
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    if lines:
        raise typer.Exit(code=1)


@app.command()
def version() -> None:
    """Print the installed version."""
    from importlib.metadata import version as pkg_version

    typer.echo(pkg_version("nudge-pipeline"))


from nudge_pipeline.simulator.cli import simulate_command  # noqa: E402

app.command("simulate")(_with_simulator(simulate_command))
