"""Fault flags: each one does what it says, only where it is aimed, reproducibly from the seed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest
import requests

from nudge_pipeline.simulator import SimConfig, SimHandle, run_simulator
from tests.simulator.api import Api

NO_FAULTS = {
    "fault_429_rate": 0.0,
    "fault_5xx_rate": 0.0,
    "fault_drop_rate": 0.0,
    "fault_cut_body_rate": 0.0,
    "latency_ms": 0,
    "fault_endpoints": None,
    "retry_after_form": "seconds",
}


@pytest.fixture(scope="module")
def faulty() -> Iterator[SimHandle]:
    with run_simulator(SimConfig(export_duration=0, rows_per_file=60)) as sim:
        yield sim


@pytest.fixture
def client(faulty: SimHandle) -> Iterator[Api]:
    faulty.configure(**NO_FAULTS)
    api = Api(faulty)
    yield api
    faulty.configure(**NO_FAULTS)


def test_429_with_retry_after_seconds(faulty: SimHandle, client: Api) -> None:
    faulty.configure(fault_429_rate=1.0, retry_after_seconds=3)
    response = client.post("/v1/campaign/all")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert faulty.stats()["faults_injected"]["429"] >= 1


def test_429_with_retry_after_http_date(faulty: SimHandle, client: Api) -> None:
    faulty.configure(fault_429_rate=1.0, retry_after_form="http-date", retry_after_seconds=5)
    response = client.post("/v1/campaign/all")
    assert response.status_code == 429
    when = parsedate_to_datetime(response.headers["retry-after"])
    assert when.timestamp() > time.time()


def test_5xx_rate_gives_every_gateway_status(faulty: SimHandle, client: Api) -> None:
    faulty.configure(fault_5xx_rate=1.0)
    statuses = {client.post("/v1/campaign/all").status_code for _ in range(40)}
    assert statuses == {500, 502, 503, 504}


def test_drop_before_headers(faulty: SimHandle, client: Api) -> None:
    faulty.configure(fault_drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        client.post("/v1/campaign/all")
    assert faulty.stats()["faults_injected"]["drop"] >= 1


def test_cut_body_is_detectable(faulty: SimHandle, client: Api) -> None:
    campaign = client.campaign("Published")
    run_id = client.runs(campaign["campaign_id"])[0]["run_id"]
    client.publish_and_wait(campaign["campaign_id"], run_id)
    whole = client.fetch(campaign["campaign_id"], run_id, 0).content
    faulty.configure(fault_cut_body_rate=1.0)
    response = client.fetch(campaign["campaign_id"], run_id, 0, stream=True)
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(whole)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _ = response.content
    # JSON answers are never cut: only CSV bodies.
    assert client.post("/v1/campaign/all").status_code == 200
    url = client.fetch(campaign["campaign_id"], run_id, 0, "url").json()["url"]
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _ = requests.get(url, timeout=30).content
    assert faulty.stats()["faults_injected"]["cut_body"] >= 2


def test_latency_is_added(faulty: SimHandle, client: Api) -> None:
    faulty.configure(latency_ms=300)
    started = time.monotonic()
    assert client.post("/v1/campaign/all").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_faults_limited_to_chosen_endpoints(faulty: SimHandle, client: Api) -> None:
    faulty.configure(fault_5xx_rate=1.0, fault_endpoints=["POST /v1/messages/pages"])
    campaign = client.campaign("Published")
    assert client.runs(campaign["campaign_id"])
    faulted = client.post("/v1/messages/pages", {"campaign_id": campaign["campaign_id"]})
    assert faulted.status_code in {500, 502, 503, 504}


def test_admin_routes_are_never_faulted(faulty: SimHandle, client: Api) -> None:
    faulty.configure(fault_drop_rate=0.5, fault_5xx_rate=0.5)
    for _ in range(10):
        assert faulty.stats()["calls"] is not None
        assert requests.get(f"{faulty.base_url}/__sim/health", timeout=30).status_code == 200


def test_faults_replay_from_the_seed() -> None:
    config = SimConfig(fault_5xx_rate=0.3, fault_429_rate=0.2)

    def sequence() -> list[int]:
        with run_simulator(config) as sim:
            sim.configure(fault_endpoints=["POST /v1/campaign/all"])
            api = Api(sim)
            return [api.post("/v1/campaign/all").status_code for _ in range(30)]

    first = sequence()
    assert first == sequence()
    assert len(set(first)) > 2


def test_concurrency_high_water(faulty: SimHandle, client: Api) -> None:
    faulty.configure(latency_ms=400)
    faulty.reset_stats()
    headers = client.headers()
    threads = [
        threading.Thread(
            target=requests.post,
            args=(f"{faulty.base_url}/v1/campaign/all",),
            kwargs={"json": {}, "headers": headers, "timeout": 30},
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = faulty.stats()
    assert stats["calls"]["POST /v1/campaign/all"] == 4
    assert stats["concurrent_high_water"] >= 2
    assert stats["in_flight"] == 0


def test_config_rejects_structural_changes(faulty: SimHandle) -> None:
    response = requests.post(f"{faulty.base_url}/__sim/config", json={"seed": 1}, timeout=30)
    assert response.status_code == 400
