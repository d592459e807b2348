"""dagster-webserver over the instance a sync wrote: assets, partitions and their status."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from nudge_pipeline.defs.partitions import campaign_run_key
from tests.e2e.helpers import CONNECTOR_ASSETS, client_for, run_sync, sync_env
from tests.fixtures.network import free_port
from tests.fixtures.waiting import stop_process, wait_until

REPO = Path(__file__).resolve().parents[2]
WEBSERVER = str(Path(sys.executable).with_name("dagster-webserver"))
QUERY = """
{
  assetNodes { assetKey { path } }
  assetNodeOrError(assetKey: {path: ["messages"]}) {
    ... on AssetNode {
      partitionKeys
      assetPartitionStatuses {
        ... on DefaultPartitionStatuses { materializedPartitions }
      }
    }
  }
}
"""
PARTITION_EVENTS = """
query ($partitions: [String!]) {
  assetOrError(assetKey: {path: ["messages"]}) {
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        partition
        metadataEntries { label ... on TextMetadataEntry { text } }
      }
      assetObservations(partitions: $partitions) {
        partition
        metadataEntries { label ... on TextMetadataEntry { text } }
      }
    }
  }
}
"""


@pytest.fixture
def webserver(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "webserver.log").open("w")
    process = subprocess.Popen(
        [WEBSERVER, "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        if process.poll() is not None:
            pytest.fail((tmp_path / "webserver.log").read_text()[-3000:])
        try:
            return requests.get(f"{url}/server_info", timeout=2).ok
        except requests.RequestException:
            return False

    try:
        wait_until(serving, timeout=120, interval=0.5, message="the webserver to answer")
        yield url
    finally:
        stop_process(process, grace_seconds=20)
        log.close()


@pytest.fixture
def env(make_simulator: Any, tmp_path: Path) -> dict[str, str]:
    sim = make_simulator()
    env = sync_env(sim, tmp_path, f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    synced = run_sync(env)
    assert synced.returncode == 0, synced.stdout[-3000:] + synced.stderr[-3000:]
    env["EXPECTED_KEYS"] = "\n".join(_run_keys(sim, published_only=False))
    env["EXPECTED_LANDED"] = "\n".join(_run_keys(sim, published_only=True))
    return env


def _run_keys(sim: Any, published_only: bool) -> list[str]:
    with client_for(sim) as client:
        return [
            campaign_run_key(c.campaign_id, r.run_id)
            for c in client.list_campaigns()
            if c.stage == "Published" or not published_only
            for r in client.list_runs(c.campaign_id)
            if r.status == "completed"
        ]


@pytest.mark.slow
def test_graphql_lists_assets_partitions_and_materializations(
    webserver: str, env: dict[str, str]
) -> None:
    answer = requests.post(f"{webserver}/graphql", json={"query": QUERY}, timeout=60)
    answer.raise_for_status()
    data = answer.json()["data"]
    assets = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
    assert assets >= CONNECTOR_ASSETS
    node = data["assetNodeOrError"]
    assert set(node["partitionKeys"]) == set(env["EXPECTED_KEYS"].split("\n"))
    materialized = set(node["assetPartitionStatuses"]["materializedPartitions"])
    landed = set(env["EXPECTED_LANDED"].split("\n"))
    assert materialized == landed
    skipped = set(env["EXPECTED_KEYS"].split("\n")) - landed
    assert skipped, "the world needs runs that are not exported"

    # What a loaded partition and a skipped one say of themselves.
    answer = requests.post(
        f"{webserver}/graphql",
        json={"query": PARTITION_EVENTS, "variables": {"partitions": sorted(landed | skipped)}},
        timeout=60,
    )
    answer.raise_for_status()
    asset = answer.json()["data"]["assetOrError"]
    loaded = {m["partition"]: _texts(m) for m in asset["assetMaterializations"]}
    assert set(loaded) == landed
    assert all(
        meta["load_status"] == "loaded" and meta["campaign_name"] for meta in loaded.values()
    )
    observed = {o["partition"]: _texts(o) for o in asset["assetObservations"]}
    assert set(observed) == skipped
    for meta in observed.values():
        assert meta["load_status"] == "skipped"
        assert "NUDGE_PUBLISH_STAGES" in meta["reason"] and meta["campaign_name"]


def _texts(event: dict[str, Any]) -> dict[str, str]:
    return {e["label"]: e["text"] for e in event["metadataEntries"] if "text" in e}
