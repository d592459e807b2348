"""The `nudge-pipeline` command."""

import typer

app = typer.Typer(help="Land Nudgescribe data as Parquet files and warehouse tables.")


@app.command()
def demo() -> None:
    """Run the pipeline against the bundled simulator."""
    typer.echo("The pipeline is not built yet: `nudge-pipeline demo` arrives with `sync`.")
    raise typer.Exit(code=1)


@app.command()
def version() -> None:
    """Print the installed version."""
    from importlib.metadata import version as pkg_version

    typer.echo(pkg_version("nudge-pipeline"))
