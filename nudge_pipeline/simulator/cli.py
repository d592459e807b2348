"""`nudge-pipeline simulate`: serve the simulator and print how to connect to it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import typer

from nudge_pipeline.simulator.config import SimConfig


def print_connection_info(info: dict[str, Any], echo: Any = typer.echo) -> None:
    """Everything another program needs, as NUDGESCRIBE_* settings it can paste."""
    primary, other = info["accounts"]
    storage_host = urlparse(info["storage_url"]).hostname
    echo(f"Nudgescribe simulator at {info['base_url']} (storage at {info['storage_url']})")
    echo(f"data dir: {info['data_dir']}")
    echo("")
    echo("# primary account")
    echo(f"NUDGESCRIBE_BASE_URL={info['base_url']}")
    echo(f"NUDGESCRIBE_API_CODE={info['api_code']}")
    echo(f"NUDGESCRIBE_API_KEY={primary['api_key']}")
    echo(f"NUDGESCRIBE_API_SECRET={primary['api_secret']}")
    echo(f"NUDGESCRIBE_PROFILE_KEY={primary['profile_key']}")
    echo(f"NUDGESCRIBE_DOWNLOAD_HOSTS={storage_host}")
    echo(f"# account_id {primary['account_id']}")
    echo("")
    echo("# second account (isolated from the first)")
    echo(f"NUDGESCRIBE_API_KEY={other['api_key']}")
    echo(f"NUDGESCRIBE_API_SECRET={other['api_secret']}")
    echo(f"NUDGESCRIBE_PROFILE_KEY={other['profile_key']}")
    echo(f"# account_id {other['account_id']}")
    echo("")
    echo(f"Admin: {info['base_url']}/__sim/stats, /__sim/config. Ctrl-C stops.")


def simulate_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port (0 = any free port).")] = 8080,
    storage_port: Annotated[int, typer.Option(help="Pre-signed download port (0 = free).")] = 0,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where export files go. Default: a temp dir.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same data and faults.")] = 7,
    workspaces: Annotated[int, typer.Option(help="Workspaces per account.")] = 2,
    campaigns_per_stage: Annotated[int, typer.Option(help="Per workspace and stage.")] = 2,
    runs_per_campaign: Annotated[int, typer.Option()] = 3,
    messages_per_run: Annotated[int, typer.Option()] = 5000,
    rows_per_file: Annotated[int, typer.Option()] = 1000,
    customer_groups: Annotated[int, typer.Option(help="Per workspace.")] = 2,
    customers_per_group: Annotated[int, typer.Option()] = 500,
    messages_to_unknown_customers: Annotated[
        bool,
        typer.Option(help="Address messages past the group's size (customers_are_known fails)."),
    ] = False,
    page_size: Annotated[int, typer.Option(help="Customers and run messages per page.")] = 100,
    token_ttl: Annotated[float, typer.Option(help="JWT lifetime, seconds.")] = 3600,
    export_duration: Annotated[float, typer.Option(help="Seconds an export job runs.")] = 3,
    pages_omit_status: Annotated[
        bool, typer.Option(help="`pages` answers num_files only.")
    ] = False,
    url_ttl: Annotated[float, typer.Option(help="Pre-signed URL lifetime, seconds.")] = 3600,
    publish_quota: Annotated[int | None, typer.Option(help="Publishes allowed.")] = None,
    failing_export_run: Annotated[
        list[str] | None, typer.Option(help="Run id whose export jobs fail. Repeatable.")
    ] = None,
    export_failure_rate: Annotated[float, typer.Option(help="Share of export jobs.")] = 0.0,
    unparseable_file: Annotated[
        list[str] | None,
        typer.Option(help='"<run_id>" or "<run_id>/<file_num>": fetch says "Failed to parse."'),
    ] = None,
    unparseable_file_rate: Annotated[float, typer.Option(help="Share of export files.")] = 0.0,
    fault_429_rate: Annotated[float, typer.Option()] = 0.0,
    retry_after_form: Annotated[str, typer.Option(help="seconds | http-date")] = "seconds",
    fault_5xx_rate: Annotated[float, typer.Option()] = 0.0,
    fault_drop_rate: Annotated[float, typer.Option(help="Close before headers.")] = 0.0,
    fault_cut_body_rate: Annotated[float, typer.Option(help="Close mid CSV body.")] = 0.0,
    latency_ms: Annotated[int, typer.Option()] = 0,
) -> None:
    """Serve a seeded Nudgescribe simulator and print its URL and credentials."""
    from nudge_pipeline.simulator.server import serve

    if retry_after_form not in ("seconds", "http-date"):
        raise typer.BadParameter("--retry-after-form must be seconds or http-date")
    config = SimConfig(
        seed=seed,
        workspaces=workspaces,
        campaigns_per_stage=campaigns_per_stage,
        runs_per_campaign=runs_per_campaign,
        messages_per_run=messages_per_run,
        rows_per_file=rows_per_file,
        customer_groups=customer_groups,
        customers_per_group=customers_per_group,
        messages_to_unknown_customers=messages_to_unknown_customers,
        page_size=page_size,
        token_ttl=token_ttl,
        export_duration=export_duration,
        pages_omit_status=pages_omit_status,
        url_ttl=url_ttl,
        publish_quota=publish_quota,
        failing_export_runs=list(failing_export_run or []),
        export_failure_rate=export_failure_rate,
        unparseable_files=list(unparseable_file or []),
        unparseable_file_rate=unparseable_file_rate,
        fault_429_rate=fault_429_rate,
        retry_after_form="http-date" if retry_after_form == "http-date" else "seconds",
        fault_5xx_rate=fault_5xx_rate,
        fault_drop_rate=fault_drop_rate,
        fault_cut_body_rate=fault_cut_body_rate,
        latency_ms=latency_ms,
    )
    serve(config, host, port, storage_port, data_dir=data_dir, on_ready=print_connection_info)
