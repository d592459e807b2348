"""The `nudge-pipeline` command."""

from typing import Annotated

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
    parallel: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="NUDGE_SYNC_PARALLEL",
            help="Dagster runs of campaign runs at once [env NUDGE_SYNC_PARALLEL]; each lands "
            "its runs side by side.",
        ),
    ] = 1,
    details: Annotated[
        bool, typer.Option("--details", help="List every run with its full note.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show library logs.")] = False,
) -> None:
    """Discover campaign runs, register them in Dagster and materialize what is new."""
    from rich.console import Console

    from nudge_pipeline.sync import prepare_environment, quiet_libraries, run_sync_command

    quiet_libraries(verbose)
    prepare_environment(lake_root, warehouse_url, dagster_home)
    console = Console()
    report = run_sync_command(campaign or [], console, parallel=parallel, details=details)
    _exit_on_failures(report)


@app.command()
def demo(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Start the seeded simulator, sync it into data/lake and data/warehouse.duckdb."""
    from rich.console import Console

    from nudge_pipeline.sync import quiet_libraries, run_demo

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

app.command("simulate")(simulate_command)
