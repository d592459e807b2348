"""`nudge-pipeline sync` on the production parts, started by the test.

- the Dagster instance: deploy/dagster.yaml on the real PostgreSQL server, in a fresh database;
- the warehouse: PostgreSQL, in another fresh database;
- the lake: `s3://…` on a moto S3 server, reached through the standard AWS variables only;
- 40 completed campaign runs in the simulator, with latency on every API call.

Every message lands exactly once, the 40 runs side by side in one Dagster run; API requests
stay within NUDGE_PARALLEL_DOWNLOADS (the simulator's high-water mark), the pool slot is
given back. (That a second sync publishes nothing is tests/e2e/test_sync_cli.py's.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from nudge_pipeline.defs.assets.common import API_POOL
from nudge_pipeline.defs.assets.customers import customers
from nudge_pipeline.defs.assets.messages import MESSAGE_ASSETS
from nudge_pipeline.defs.assets.snapshots import SNAPSHOT_ASSETS
from tests.e2e.helpers import (
    PUBLISH,
    expected_messages,
    landed_messages,
    run_sync,
    sync_env,
)
from tests.fixtures.databases import dagster_pg_env
from tests.fixtures.moto_s3 import aws_env
from tests.production.conftest import BUCKET, lake_keys, opened_production_instance

API_POOL_LIMIT = 2
PARALLEL_DOWNLOADS = 2  # API requests one step may have in flight at once
CAMPAIGN_RUNS = 24
MESSAGES_PER_RUN = 100
ROWS_PER_FILE = 50
# 2 workspaces x 3 "Published" campaigns x 5 runs, of which run 2 failed: 24 completed runs.
WORLD = {
    "seed": 808,
    "workspaces": 2,
    "campaigns_per_stage": 3,
    "runs_per_campaign": 5,
    "messages_per_run": MESSAGES_PER_RUN,
    "rows_per_file": ROWS_PER_FILE,
    "customer_groups": 1,
    "customers_per_group": 30,
    "page_size": 30,
    "export_duration": 0.2,
    # Slow enough answers that requests of different runs overlap whenever they can.
    "latency_ms": 40,
}
API_STEPS = {
    asset.op.name for asset in [*SNAPSHOT_ASSETS, *MESSAGE_ASSETS, customers] if asset.op.pool
}


@pytest.fixture
def production_instance(
    instance_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """The instance the syncs write to, opened here to read what they did."""
    home = tmp_path / "dagster_home"
    with opened_production_instance(home, instance_database, API_POOL_LIMIT, monkeypatch) as opened:
        yield opened


def _runs(instance: dg.DagsterInstance, job_name: str) -> list[Any]:
    return list(instance.get_run_records(filters=dg.RunsFilter(job_name=job_name)))


@pytest.mark.slow
def test_sync_on_postgres_instance_postgres_warehouse_and_s3_lake(
    make_simulator: Any,
    postgres_url: str,
    production_instance: dg.DagsterInstance,
    instance_database: str,
    s3_endpoint: str,
    tmp_path: Path,
) -> None:
    sim = make_simulator(**WORLD)
    expected = expected_messages(sim, {"Published"})
    assert len({(c, r) for c, r, _, _ in expected}) == CAMPAIGN_RUNS
    assert sum(expected.values()) == CAMPAIGN_RUNS * MESSAGES_PER_RUN
    sim.reset_stats()

    prefix = "teams/marketing/nudgescribe"
    env = sync_env(sim, tmp_path, postgres_url)
    env.update(
        NUDGE_LAKE_ROOT=f"s3://{BUCKET}/{prefix}",
        NUDGE_PARALLEL_DOWNLOADS=str(PARALLEL_DOWNLOADS),
        **aws_env(s3_endpoint),
        **dagster_pg_env(instance_database),
    )

    first = run_sync(env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    # Every message exactly once, text unchanged, in the warehouse.
    assert landed_messages(postgres_url) == expected
    stats = sim.stats()
    assert stats["calls"].get(PUBLISH, 0) == CAMPAIGN_RUNS

    # The lake is on S3, one Parquet object per export file, nothing left half-written.
    keys = lake_keys(s3_endpoint, f"{prefix}/messages/")
    parts = [k for k in keys if k.rsplit("/", 1)[-1].startswith("part-")]
    assert len(parts) == CAMPAIGN_RUNS * (MESSAGES_PER_RUN // ROWS_PER_FILE)
    assert all(k.endswith(".parquet") for k in parts), parts[:5]
    assert not (tmp_path / "lake").exists()

    # One Dagster run lands the 40 campaign runs side by side.
    runs = _runs(production_instance, "campaign_run_job")
    assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
    materialized = production_instance.get_materialized_partitions(dg.AssetKey("messages"))
    assert len(materialized) == CAMPAIGN_RUNS

    # Requests at once: the landing's (publishes, polls, downloads) share
    # NUDGE_PARALLEL_DOWNLOADS slots in the process; one more from the snapshots or customers.
    assert 2 <= stats["concurrent_high_water"] <= PARALLEL_DOWNLOADS + 1
    pool = production_instance.event_log_storage.get_concurrency_info(API_POOL)
    assert (pool.slot_count, pool.active_slot_count) == (API_POOL_LIMIT, 0)


def test_api_steps_are_the_landing_snapshots_and_customers() -> None:
    assert Counter(API_STEPS) == Counter({"account_snapshots", "campaign_run_landing", "customers"})
