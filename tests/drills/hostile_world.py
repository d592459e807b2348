"""A small simulated account behind a tampering proxy, and the real pipeline run against it.

Each drill lands a victim partition (whose answers the proxy spoils) together with a
bystander partition (whose answers pass through untouched) in one Dagster run, then reads
the lake, the warehouse and the Dagster failure metadata.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import sqlalchemy as sa

from nudge_pipeline.defs.assets.customers import customers
from nudge_pipeline.defs.assets.messages import MESSAGE_ASSETS
from nudge_pipeline.defs.partitions import CAMPAIGN_RUNS, CUSTOMER_GROUPS, campaign_run_key
from nudge_pipeline.defs.resources import LakeResource, NudgescribeResource, WarehouseResource
from nudge_pipeline.defs.schedules import range_tags
from nudge_pipeline.lake import message_dir
from nudge_pipeline.lake.paths import customers_dir
from nudge_pipeline.nudgescribe import ClientConfig, NudgescribeClient
from nudge_pipeline.simulator import SimConfig, SimHandle
from tests.e2e.helpers import client_for

from .scripted_server import TamperingProxy
from .sync_drill import lake_files

WORLD = SimConfig(
    campaigns_per_stage=3,
    runs_per_campaign=2,
    messages_per_run=30,
    rows_per_file=10,
    customer_groups=2,
    customers_per_group=12,
    page_size=5,
    export_duration=0.05,
)
MessageRows = Counter[tuple[str, str]]


class QuickNudgescribe(NudgescribeResource):
    """The real resource, with retry back-off and export polling scaled down to test size."""

    def client_config(self) -> Any:
        config: ClientConfig = super().client_config()
        return config.with_changes(
            backoff_initial=0.01,
            backoff_max=0.05,
            retry_after_cap=0.2,
            poll_initial=0.05,
            poll_max=0.2,
        )


@dataclass(frozen=True)
class Partition:
    campaign_id: str
    run_id: str
    expected: MessageRows = field(compare=False, hash=False)

    @property
    def key(self) -> str:
        return campaign_run_key(self.campaign_id, self.run_id)


def expected_rows(sim: SimHandle, campaign_id: str, run_id: str) -> MessageRows:
    """A run's messages read through the paged JSON endpoint (not the CSV path under test)."""
    with client_for(sim) as client:
        return Counter(
            (m.customer_id, m.message) for m in client.iter_run_messages(campaign_id, run_id)
        )


def published_partitions(sim: SimHandle) -> list[Partition]:
    with client_for(sim) as client:
        found = []
        for campaign in client.list_campaigns():
            if campaign.stage != "Published":
                continue
            for run in client.list_runs(campaign.campaign_id):
                if run.status == "completed":
                    found.append(Partition(campaign.campaign_id, run.run_id, Counter()))
    return [
        Partition(p.campaign_id, p.run_id, expected_rows(sim, p.campaign_id, p.run_id))
        for p in found
    ]


@dataclass
class Outcome:
    result: dg.ExecuteInProcessResult
    failures: dict[str, dict[str, str]]
    retried: list[str] = field(default_factory=list)

    def failure(self, key: str) -> str:
        """`cause: message` of a failed partition."""
        assert key in self.failures, f"{key} did not fail; failures: {self.failures}"
        info = self.failures[key]
        return f"{info['cause']}: {info['message']}"


class Pipeline:
    """One lake, one DuckDB warehouse and one Dagster instance, fed through the proxy."""

    def __init__(self, sim: SimHandle, proxy: TamperingProxy, root: Path) -> None:
        self.sim = sim
        self.proxy = proxy
        self.root = root
        self.lake_root = root / "lake"
        self.warehouse_url = f"duckdb:///{root / 'warehouse.duckdb'}"
        self.instance = dg.DagsterInstance.ephemeral()
        self.nudgescribe: dict[str, Any] = {}

    def resources(self) -> dict[str, Any]:
        account = self.sim.account
        settings: dict[str, Any] = {
            "base_url": self.proxy.url,
            "api_code": account.api_code,
            "api_key": account.api_key,
            "api_secret": account.api_secret,
            "profile_key": account.profile_key,
            "parallel_downloads": 3,
            "settle_seconds": 0.2,
            **self.nudgescribe,
        }
        return {
            "nudgescribe": QuickNudgescribe(**settings),
            "lake": LakeResource(root=str(self.lake_root)),
            "warehouse": WarehouseResource(url=self.warehouse_url),
        }

    @contextmanager
    def client(self) -> Iterator[NudgescribeClient]:
        with self.resources()["nudgescribe"].client() as client:
            yield client

    def _materialize(self, assets: Sequence[Any], partitions: str, keys: Sequence[str]) -> Outcome:
        known = set(self.instance.get_dynamic_partitions(partitions))
        self.instance.add_dynamic_partitions(partitions, [k for k in keys if k not in known])
        order = self.instance.get_dynamic_partitions(partitions)
        ranked = sorted(keys, key=order.index)
        assert [order.index(k) for k in ranked] == list(
            range(order.index(ranked[0]), order.index(ranked[0]) + len(ranked))
        ), "a drill lands partitions registered side by side"
        result = dg.materialize(
            list(assets),
            instance=self.instance,
            resources=self.resources(),
            tags=range_tags(ranked[0], ranked[-1]),
            raise_on_error=False,
        )
        return Outcome(result, step_failures(result))

    def land(self, *partitions: Partition) -> Outcome:
        """One run over all partitions; then, as `sync` does, a run of its own for each one
        held up by another's failure (a failed step stops the steps after it for all)."""
        keys = [p.key for p in partitions]
        outcome = self._materialize(MESSAGE_ASSETS, CAMPAIGN_RUNS, keys)
        for key in keys:
            if key not in outcome.failures and key not in landed_keys(outcome.result):
                alone = self._materialize(MESSAGE_ASSETS, CAMPAIGN_RUNS, [key])
                outcome.failures.update(alone.failures)
                outcome.retried.append(key)
        return outcome

    def land_customers(self, *group_ids: str) -> Outcome:
        return self._materialize([customers], CUSTOMER_GROUPS, list(group_ids))

    # -- what landed ----------------------------------------------------------------------

    def lake_files(self, campaign_id: str, run_id: str) -> list[Path]:
        """Every file (temporaries included) under the run's lake folder."""
        return lake_files(self.lake_root / message_dir(campaign_id, run_id))

    def lake_rows(self, campaign_id: str, run_id: str) -> MessageRows:
        rows: MessageRows = Counter()
        for path in self.lake_files(campaign_id, run_id):
            table = pq.read_table(path, columns=["customer_id", "message"])
            rows.update(
                zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)
            )
        return rows

    def query(self, sql: str, **params: Any) -> list[Any]:
        engine = sa.create_engine(self.warehouse_url)
        try:
            with engine.connect() as conn:
                if not sa.inspect(conn).has_table("messages", schema="nudgescribe"):
                    return []
                return list(conn.execute(sa.text(sql), params).all())
        finally:
            engine.dispose()

    def warehouse_rows(self, campaign_id: str, run_id: str) -> MessageRows:
        rows = self.query(
            "SELECT customer_id, message FROM nudgescribe.messages"
            " WHERE campaign_id = :c AND run_id = :r",
            c=campaign_id,
            r=run_id,
        )
        return Counter((r[0], r[1]) for r in rows)

    def warehouse_files(self, campaign_id: str, run_id: str) -> int:
        rows = self.query(
            "SELECT COUNT(*) FROM nudgescribe.message_files WHERE campaign_id = :c AND run_id = :r",
            c=campaign_id,
            r=run_id,
        )
        return int(rows[0][0]) if rows else 0

    def customer_files(self, group_id: str) -> dict[Path, bytes]:
        return {p: p.read_bytes() for p in lake_files(self.lake_root / customers_dir(group_id))}

    def customer_rows(self, group_id: str) -> list[Any]:
        """The group's rows, with synced_at: rows written again (even identical) differ."""
        return sorted(
            self.query(
                "SELECT customer_id, extended_profile, updated_at, synced_at"
                " FROM nudgescribe.customers"
                " WHERE customer_group_id = :g",
                g=group_id,
            )
        )

    # -- the promises every drill checks ----------------------------------------------------

    def assert_landed_exactly(self, partition: Partition) -> None:
        c, r = partition.campaign_id, partition.run_id
        assert partition.expected, "a drill needs a run with messages"
        assert self.warehouse_rows(c, r) == partition.expected
        assert self.lake_rows(c, r) == partition.expected
        assert all(p.name.startswith("part-") for p in self.lake_files(c, r)), "no temporaries"

    def assert_nothing_landed(self, partition: Partition) -> None:
        c, r = partition.campaign_id, partition.run_id
        assert self.lake_files(c, r) == []
        assert self.warehouse_rows(c, r) == Counter()
        assert self.warehouse_files(c, r) == 0


def landed_keys(result: dg.ExecuteInProcessResult) -> set[str]:
    """Partitions whose messages were loaded in this run (skips are never materialized)."""
    return {
        str(event.materialization.partition)
        for event in result.get_asset_materialization_events()
        if event.materialization.asset_key == dg.AssetKey("messages")
    }


def step_failures(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, str]]:
    """Per partition key: the cause and reason of each partition observed as failed."""
    found: dict[str, dict[str, str]] = {}
    for event in result.all_events:
        if event.event_type_value != "ASSET_OBSERVATION":
            continue
        observation = event.asset_observation_data.asset_observation
        metadata = {k: getattr(v, "value", v) for k, v in observation.metadata.items()}
        if metadata.get("load_status") == "failed":
            found.setdefault(
                str(observation.partition),
                {"cause": str(metadata["cause"]), "message": str(metadata["reason"])},
            )
    if not result.success:
        assert found, "the step failed without naming a failed partition"
    return found
