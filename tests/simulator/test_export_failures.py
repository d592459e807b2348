"""Export failures from the contract: 500 "Failed to parse." and jobs whose status is "failed";
and files rendered once per run, reused by every later export job of that run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nudge_pipeline.simulator import SimConfig, SimHandle, run_simulator
from tests.fixtures.waiting import wait_until
from tests.simulator.api import Api, error_of

RESET = {
    "unparseable_files": [],
    "unparseable_file_rate": 0.0,
    "failing_export_runs": [],
    "export_failure_rate": 0.0,
    "pages_omit_status": False,
    "export_duration": 0.0,
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    config = SimConfig(runs_per_campaign=3, messages_per_run=40, rows_per_file=10)
    with run_simulator(config) as handle:
        yield handle


@pytest.fixture
def client(sim: SimHandle) -> Iterator[Api]:
    sim.configure(**RESET)
    sim.reset_stats(quota=True)
    yield Api(sim)
    sim.configure(**RESET)


def _published_runs(client: Api) -> list[tuple[str, str]]:
    published = {c["campaign_id"] for c in client.campaigns() if c["stage"] == "Published"}
    return [(c, r) for c, r in client.completed_runs() if c in published]


def _pages_until_done(client: Api, campaign_id: str, run_id: str) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    target = {"campaign_id": campaign_id, "run_id": run_id}

    def finished() -> bool:
        seen.append(client.ok("/v1/messages/pages", target))
        return seen[-1].get("status") in ("completed", "failed")

    wait_until(finished, timeout=20, message=lambda: f"the export to finish: {seen[-3:]}")
    return seen


def test_unparseable_file_answers_500_failed_to_parse_every_time(
    sim: SimHandle, client: Api
) -> None:
    campaign_id, run_id = _published_runs(client)[0]
    assert client.publish_and_wait(campaign_id, run_id)["num_files"] == 4
    sim.configure(unparseable_files=[f"{run_id}/1"])
    for export_type in ("utf8", "json", "url", "utf8"):
        response = client.fetch(campaign_id, run_id, 1, export_type)
        assert error_of(response) == (500, "Failed to parse."), export_type
        assert response.headers["content-type"] == "application/json"
    for file_num in (0, 2, 3):
        assert client.fetch(campaign_id, run_id, file_num).status_code == 200
    # Out of range is still "File not found.": the file must exist before it can fail to parse.
    assert error_of(client.fetch(campaign_id, run_id, 4)) == (404, "File not found.")
    sim.configure(unparseable_files=[run_id])
    assert {client.fetch(campaign_id, run_id, n).status_code for n in range(4)} == {500}
    assert sim.stats()["faults_injected"]["failed_to_parse"] == 8


def test_unparseable_rate_picks_the_same_files_on_every_call(sim: SimHandle, client: Api) -> None:
    runs = _published_runs(client)
    for campaign_id, run_id in runs:
        client.publish_and_wait(campaign_id, run_id)
    sim.configure(unparseable_file_rate=0.5)

    def failing() -> set[tuple[str, int]]:
        return {
            (run_id, n)
            for campaign_id, run_id in runs
            for n in range(4)
            if client.fetch(campaign_id, run_id, n).status_code == 500
        }

    first = failing()
    assert 0 < len(first) < 4 * len(runs)
    assert failing() == first


def test_failed_export_job_reports_failed_and_serves_no_file(sim: SimHandle, client: Api) -> None:
    (campaign_id, failing_run), (other_campaign_id, healthy_run) = _published_runs(client)[:2]
    sim.configure(failing_export_runs=[failing_run], export_duration=0.4)
    target = {"campaign_id": campaign_id, "run_id": failing_run}
    job = client.ok("/v1/messages/publish", target)
    assert job["status"] == "queued"
    seen = _pages_until_done(client, campaign_id, failing_run)
    assert seen[-1] == {"num_files": 0, "status": "failed", "job_id": job["job_id"]}
    assert {p["status"] for p in seen[:-1]} <= {"processing"}
    assert all(p["num_files"] == 0 for p in seen)
    assert error_of(client.fetch(campaign_id, failing_run, 0)) == (404, "File not found.")
    # Only the named run fails.
    client.ok("/v1/messages/publish", {"campaign_id": other_campaign_id, "run_id": healthy_run})
    last = _pages_until_done(client, other_campaign_id, healthy_run)[-1]
    assert last["status"] == "completed"
    stats = sim.stats()
    assert stats["faults_injected"]["export_failed"] == 1
    assert stats["quota_used"] == 2


def test_failed_export_job_without_status_never_shows_files(sim: SimHandle, client: Api) -> None:
    campaign_id, run_id = _published_runs(client)[0]
    sim.configure(failing_export_runs=[run_id], pages_omit_status=True)
    target = {"campaign_id": campaign_id, "run_id": run_id}
    client.ok("/v1/messages/publish", target)
    # Time for the run's files to render: without a status, nothing in the answer shows it.
    time.sleep(0.2)
    assert client.ok("/v1/messages/pages", target) == {"num_files": 0}


def test_export_failure_rate_fails_some_jobs(sim: SimHandle, client: Api) -> None:
    campaign_id, run_id = _published_runs(client)[0]
    sim.configure(export_failure_rate=0.5)
    target = {"campaign_id": campaign_id, "run_id": run_id}
    outcomes = []
    for _ in range(12):
        client.ok("/v1/messages/publish", target)
        outcomes.append(_pages_until_done(client, campaign_id, run_id)[-1]["status"])
    assert set(outcomes) == {"completed", "failed"}
    assert sim.stats()["faults_injected"]["export_failed"] == outcomes.count("failed")


def test_republish_reuses_the_rendered_files(sim: SimHandle, client: Api) -> None:
    campaign_id, run_id = _published_runs(client)[-1]
    first = client.ok("/v1/messages/publish", {"campaign_id": campaign_id, "run_id": run_id})
    _pages_until_done(client, campaign_id, run_id)
    files = sorted(Path(sim.data_dir).rglob(f"{run_id}/part-*.csv"))
    assert len(files) == 4
    rendered = {path: path.stat().st_mtime_ns for path in files}
    contents = [client.fetch(campaign_id, run_id, n).content for n in range(4)]
    second = client.ok("/v1/messages/publish", {"campaign_id": campaign_id, "run_id": run_id})
    assert second["job_id"] != first["job_id"]
    assert _pages_until_done(client, campaign_id, run_id)[-1]["job_id"] == second["job_id"]
    assert {path: path.stat().st_mtime_ns for path in files} == rendered
    assert [client.fetch(campaign_id, run_id, n).content for n in range(4)] == contents
    assert sim.stats()["quota_used"] == 2  # each publish spends quota, files or not
