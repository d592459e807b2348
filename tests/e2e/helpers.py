"""Run `nudge-pipeline sync` as a subprocess against a simulator, and read what landed."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from nudge_pipeline.nudgescribe.client import NudgescribeClient
from nudge_pipeline.nudgescribe.config import ClientConfig
from nudge_pipeline.simulator import SimHandle
from nudge_pipeline.warehouse.tables import SNAPSHOT_TABLES

CLI = str(Path(sys.executable).with_name("nudge-pipeline"))
PUBLISH = "POST /v1/messages/publish"
# Every asset the connector defines (the Component and the project's own definitions alike).
CONNECTOR_ASSETS = {
    "campaigns",
    "campaign_runs",
    "customer_groups",
    "customer_profile_fields",
    "message_export",
    "message_files",
    "messages",
    "customers",
}


def sync_env(sim: SimHandle, tmp_path: Path, warehouse_url: str, **extra: str) -> dict[str, str]:
    account = sim.account
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUDGESCRIBE_", "NUDGE_"))}
    env.update(
        NUDGESCRIBE_BASE_URL=sim.base_url,
        NUDGESCRIBE_API_CODE=account.api_code,
        NUDGESCRIBE_API_KEY=account.api_key,
        NUDGESCRIBE_API_SECRET=account.api_secret,
        NUDGESCRIBE_PROFILE_KEY=account.profile_key,
        NUDGE_LAKE_ROOT=str(tmp_path / "lake"),
        NUDGE_WAREHOUSE_URL=warehouse_url,
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        COLUMNS="200",
    )
    env.update(extra)
    return env


def run_sync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "sync", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def client_for(sim: SimHandle) -> NudgescribeClient:
    account = sim.account
    return NudgescribeClient(
        ClientConfig(
            base_url=sim.base_url,
            api_code=account.api_code,
            api_key=account.api_key,
            api_secret=account.api_secret,
        )
    )


def expected_messages(sim: SimHandle, stages: set[str]) -> Counter[tuple[str, str, str, str]]:
    """Messages of completed runs of campaigns at `stages`, read through the paged JSON API."""
    found: Counter[tuple[str, str, str, str]] = Counter()
    with client_for(sim) as client:
        for campaign in client.list_campaigns():
            if campaign.stage not in stages:
                continue
            for run in client.list_runs(campaign.campaign_id):
                if run.status != "completed":
                    continue
                for m in client.iter_run_messages(campaign.campaign_id, run.run_id):
                    found[(campaign.campaign_id, run.run_id, m.customer_id, m.message)] += 1
    return found


def landed_messages(warehouse_url: str) -> Counter[tuple[str, str, str, str]]:
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT campaign_id, run_id, customer_id, message FROM nudgescribe.messages"
                )
            ).all()
    finally:
        engine.dispose()
    return Counter(tuple(r) for r in rows)  # type: ignore[misc]


def snapshot_rows(warehouse_url: str) -> dict[str, int]:
    """Rows of each snapshot table, as the sync summary should report them."""
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            return {
                name: conn.execute(
                    sa.text(f"SELECT COUNT(*) FROM {spec.qualified_name}")
                ).scalar_one()
                for name, spec in SNAPSHOT_TABLES.items()
            }
    finally:
        engine.dispose()


def last_load(warehouse_url: str) -> Any:
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT COUNT(*), MAX(loaded_at) FROM nudgescribe.messages")
            ).one()
    finally:
        engine.dispose()


def files_metadata(dagster_home: str, after_storage_id: int = 0) -> list[dict[str, Any]]:
    """`files_downloaded`, `files_reused` and `num_files` of each `message_files`
    materialization stored after `after_storage_id`, with its storage id."""
    import dagster as dg

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = dagster_home
    try:
        with dg.DagsterInstance.get() as instance:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey("message_files"), after_storage_id=after_storage_id
                ),
                limit=1000,
            ).records
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
    found = []
    for record in records:
        assert record.asset_materialization is not None
        metadata = record.asset_materialization.metadata
        found.append(
            {
                "storage_id": record.storage_id,
                **{
                    name: metadata[name].value
                    for name in ("files_downloaded", "files_reused", "num_files")
                },
            }
        )
    return found
