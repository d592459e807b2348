"""Streaming downloads against the simulator: both export types, cuts, expiry, parallelism."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

import pytest

from nudge_pipeline.nudgescribe import ExportJob, NudgescribeClient

from .conftest import calls, sim_client
from .test_sim_export import exportable_runs

FETCH = "POST /v1/messages/fetch"
STORAGE = "GET /storage"


def digest(stream: BinaryIO) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    while chunk := stream.read(64 * 1024):
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


def rows(stream: BinaryIO) -> list[tuple[str, str]]:
    reader = csv.DictReader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
    return [(row["customer_id"], row["message"]) for row in reader]


def export(client: NudgescribeClient, campaign_id: str, run_id: str) -> int:
    return ExportJob(client, campaign_id, run_id).run().num_files


def test_utf8_and_url_deliver_the_same_bytes_without_auth_headers_at_storage(
    simulator: Any,
) -> None:
    with sim_client(simulator) as client:
        campaign_id, run_id = exportable_runs(client)[0]
        files = export(client, campaign_id, run_id)
        simulator.reset_stats()
        for n in range(files):
            utf8 = client.download_export_file(campaign_id, run_id, n, digest)
            url = client.download_export_file(campaign_id, run_id, n, digest, export_type="url")
            assert utf8 == url and utf8[1] > 0
    stats = simulator.stats()
    assert calls(stats, FETCH) == 2 * files and calls(stats, STORAGE) == files
    assert stats["storage_auth_header_seen"] is False


@pytest.mark.parametrize("export_type", ["utf8", "url"])
def test_cut_bodies_are_fetched_again_and_never_returned_partial(
    make_simulator: Any, export_type: str
) -> None:
    sim = make_simulator(fault_cut_body_rate=0.5, fault_endpoints=[FETCH, STORAGE])
    with sim_client(sim, download_attempts=8) as client:
        campaign_id, run_id = exportable_runs(client)[0]
        files = export(client, campaign_id, run_id)
        sim.configure(fault_cut_body_rate=0.0)
        clean = [client.download_export_file(campaign_id, run_id, n, digest) for n in range(files)]
        sim.configure(fault_cut_body_rate=0.5)
        sim.reset_stats()
        starts = Counter[int]()

        def consume(n: int) -> Any:
            def run(stream: BinaryIO) -> tuple[str, int]:
                starts[n] += 1
                return digest(stream)

            return run

        cut = [
            client.download_export_file(campaign_id, run_id, n, consume(n), export_type)
            for n in range(files)
        ]
    stats = sim.stats()
    assert cut == clean
    assert stats["faults_injected"].get("cut_body", 0) >= 1
    assert sum(starts.values()) == files + stats["faults_injected"]["cut_body"]
    if export_type == "url":
        # A still-valid URL is reused for the retry: no extra fetch calls.
        assert calls(stats, FETCH) == files


def test_expired_url_is_reissued(make_simulator: Any) -> None:
    sim = make_simulator(url_ttl=3, fault_cut_body_rate=1.0, fault_endpoints=[STORAGE])
    with sim_client(sim) as client:
        campaign_id, run_id = exportable_runs(client)[0]
        export(client, campaign_id, run_id)
        sim.reset_stats()
        attempts: list[int] = []

        def slow_first(stream: BinaryIO) -> tuple[str, int]:
            attempts.append(1)
            if len(attempts) == 1:
                time.sleep(3.2)  # the URL this attempt used has now expired
                sim.configure(fault_cut_body_rate=0.0)
            return digest(stream)

        client.download_export_file(campaign_id, run_id, 0, slow_first, export_type="url")
    stats = sim.stats()
    assert len(attempts) == 2
    assert calls(stats, FETCH) == 2 and calls(stats, STORAGE) == 2


def test_long_download_outlives_a_3s_token(make_simulator: Any) -> None:
    sim = make_simulator(token_ttl=3)
    with sim_client(sim) as client:
        campaign_id, run_id = exportable_runs(client)[0]
        files = export(client, campaign_id, run_id)

        def slow(stream: BinaryIO) -> list[tuple[str, str]]:
            first = stream.read(10)
            time.sleep(1.5)
            return rows(io.BufferedReader(io.BytesIO(first + stream.read())))  # type: ignore[arg-type]

        got = [
            row
            for n in range(files)
            for row in client.download_export_file(campaign_id, run_id, n, slow)
        ]
        assert len(got) == sum(
            r.message_count or 0 for r in client.list_runs(campaign_id) if r.run_id == run_id
        )
    stats = sim.stats()
    assert calls(stats, "GET /v1/auth") >= 1
    assert all(
        "200" in v and set(v) <= {"200"}
        for k, v in stats["responses"].items()
        if k.startswith("POST /v1/messages")
    )


def test_parallel_downloads_share_one_client(make_simulator: Any) -> None:
    sim = make_simulator(latency_ms=150)
    with sim_client(sim, pool_size=4) as client:
        runs = exportable_runs(client)
        jobs = [(c, r, n) for c, r in runs for n in range(export(client, c, r))]
        sim.reset_stats()
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(
                pool.map(lambda job: client.download_export_file(*job, digest, "url"), jobs)
            )
    stats = sim.stats()
    assert len(results) == len(jobs) and all(size > 0 for _, size in results)
    assert calls(stats, FETCH) == len(jobs)
    assert stats["concurrent_high_water"] >= 2
