"""The export job against the simulator: API cost, settle window, resume, quota, faults."""

from __future__ import annotations

from typing import Any

import pytest

from nudge_pipeline.nudgescribe import ExportJob, NotFoundError, QuotaExhaustedError

from .conftest import calls, sim_client

PUBLISH = "POST /v1/messages/publish"
PAGES = "POST /v1/messages/pages"
FETCH = "POST /v1/messages/fetch"
# The contract's polling: ~1 s start, x1.5, so a 3 s job costs a handful of pages calls.
CONTRACT_POLLING = {"poll_initial": 1.0, "poll_factor": 1.5, "poll_max": 10.0}


def exportable_runs(client: Any) -> list[tuple[str, str]]:
    runs = []
    for campaign in client.list_campaigns():
        if campaign.stage != "Published":
            continue
        for run in client.list_runs(campaign.campaign_id):
            if run.status == "completed":
                runs.append((campaign.campaign_id, run.run_id))
    return runs


def count_rows(stream: Any) -> int:
    # Rows are counted by the csv module: messages may hold newlines.
    import csv
    import io

    return (
        sum(1 for _ in csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))) - 1
    )


@pytest.mark.parametrize("omit_status", [False, True], ids=["status", "settle-window"])
def test_one_export_costs_one_publish_few_polls_and_one_fetch_per_file(
    make_simulator: Any, omit_status: bool
) -> None:
    sim = make_simulator(export_duration=3.0, pages_omit_status=omit_status)
    with sim_client(sim, **CONTRACT_POLLING, settle_seconds=1.0) as client:
        campaign_id, run_id = exportable_runs(client)[0]
        expected = next(
            r.message_count for r in client.list_runs(campaign_id) if r.run_id == run_id
        )
        sim.reset_stats()
        pages_at_announce: list[int] = []

        def announce(job_id: str) -> None:
            pages_at_announce.append(calls(sim.stats(), PAGES))

        result = ExportJob(client, campaign_id, run_id, on_job_id=announce).run()
        rows = sum(
            client.download_export_file(campaign_id, run_id, n, count_rows)
            for n in range(result.num_files)
        )
    stats = sim.stats()
    assert result.num_files > 0 and rows == expected
    assert calls(stats, PUBLISH) == 1 and stats["quota_used"] == 1
    assert calls(stats, PAGES) <= 10
    assert calls(stats, FETCH) == result.num_files
    # on_job_id ran before any polling (only the pre-publish status check had happened).
    assert pages_at_announce == [1]


def test_resume_from_known_job_or_completed_export_never_publishes(make_simulator: Any) -> None:
    sim = make_simulator(export_duration=0.5)
    with sim_client(sim) as client:
        (campaign_id, run_id), (other_campaign, other_run) = exportable_runs(client)[:2]
        job_ids: list[str] = []
        first = ExportJob(client, campaign_id, run_id, on_job_id=job_ids.append).run()
        assert first.job_id == job_ids[0]
        sim.reset_stats()
        again = ExportJob(client, campaign_id, run_id).run()
        assert again.num_files == first.num_files
        assert calls(sim.stats(), PUBLISH) == 0 and calls(sim.stats(), PAGES) == 1
        # A crash after on_job_id persisted the id: resume without publishing.
        started = client.publish(other_campaign, other_run)
        assert started is not None
        sim.reset_stats()
        resumed = ExportJob(client, other_campaign, other_run, known_job_id=started).run()
        assert resumed.job_id == started and resumed.num_files > 0
        assert calls(sim.stats(), PUBLISH) == 0


def test_exhausted_quota_is_reported_plainly_and_not_retried(make_simulator: Any) -> None:
    sim = make_simulator(publish_quota=0)
    with sim_client(sim) as client:
        campaign_id, run_id = exportable_runs(client)[0]
        sim.reset_stats()
        with pytest.raises(QuotaExhaustedError, match="Usage limit exceeded"):
            ExportJob(client, campaign_id, run_id).run()
    assert calls(sim.stats(), PUBLISH) == 1


def test_deleted_campaign_is_not_found(make_simulator: Any) -> None:
    sim = make_simulator()
    with sim_client(sim) as client:
        campaign_id, run_id = exportable_runs(client)[0]
        sim.delete_campaign(campaign_id)
        with pytest.raises(NotFoundError):
            ExportJob(client, campaign_id, run_id).run()


def test_lost_publish_answers_never_cost_a_second_export(make_simulator: Any) -> None:
    sim = make_simulator(
        export_duration=0.3,
        fault_drop_rate=0.25,
        fault_5xx_rate=0.2,
        fault_endpoints=[PUBLISH, PAGES],
    )
    with sim_client(sim, max_attempts=10) as client:
        runs = exportable_runs(client)
        results = [ExportJob(client, c, r).run() for c, r in runs]
    stats = sim.stats()
    assert all(result.num_files > 0 for result in results)
    assert sum(stats["faults_injected"].values()) > 0
    assert stats["quota_used"] == len(runs)
