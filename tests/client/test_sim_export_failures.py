"""Export failures from the simulator: 500 "Failed to parse." and export jobs that fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nudge_pipeline.nudgescribe import ExportFailedError, ExportJob, NudgescribeError
from nudge_pipeline.simulator import SimConfig, SimHandle, run_simulator

from .conftest import calls, sim_client
from .test_sim_export import FETCH, PAGES, PUBLISH, count_rows, exportable_runs


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[SimHandle]:
    with run_simulator(
        SimConfig(export_duration=0.3, messages_per_run=40, rows_per_file=10)
    ) as sim:
        yield sim


@pytest.fixture
def sim(shared_sim: SimHandle) -> Iterator[SimHandle]:
    """The shared simulator with no failures configured and its counters at zero."""
    clean = {"unparseable_files": [], "failing_export_runs": []}
    shared_sim.configure(**clean)
    shared_sim.reset_stats(quota=True)
    yield shared_sim
    shared_sim.configure(**clean)


@pytest.mark.parametrize("export_type", ["utf8", "url"])
def test_failed_to_parse_is_retried_a_bounded_number_of_times_then_names_the_file(
    sim: Any, export_type: str
) -> None:
    with sim_client(sim, download_attempts=3, max_attempts=3) as client:
        campaign_id, run_id = exportable_runs(client)[0]
        result = ExportJob(client, campaign_id, run_id).run()
        assert result.num_files == 4
        sim.configure(unparseable_files=[f"{run_id}/2"])
        sim.reset_stats()
        rows = [
            client.download_export_file(campaign_id, run_id, n, count_rows, export_type)
            for n in (0, 1, 3)
        ]
        assert rows == [10, 10, 10]
        assert calls(sim.stats(), FETCH) == 3
        with pytest.raises(NudgescribeError) as failure:
            client.download_export_file(campaign_id, run_id, 2, count_rows, export_type)
    error = failure.value
    assert error.status == 500
    assert "Failed to parse." in str(error)
    for name in (campaign_id, run_id, "file 2"):
        assert name in str(error)
    stats = sim.stats()
    # Retried as a transient 500, download_attempts times in all (no nested retry loops).
    assert calls(stats, FETCH) - 3 == 3
    assert stats["faults_injected"]["failed_to_parse"] == 3
    assert calls(stats, "GET /storage") == (3 if export_type == "url" else 0)


def test_failed_export_job_raises_export_failed_error_without_an_extra_publish(
    sim: Any,
) -> None:
    with sim_client(sim) as client:
        # Runs no other test here has exported: a completed export would be reused.
        (campaign_id, run_id), (other_campaign_id, other_run_id) = exportable_runs(client)[-2:]
        sim.configure(failing_export_runs=[run_id])
        sim.reset_stats()
        with pytest.raises(ExportFailedError) as failure:
            ExportJob(client, campaign_id, run_id).run()
        stats = sim.stats()
        assert calls(stats, PUBLISH) == 1 and stats["quota_used"] == 1
        assert calls(stats, FETCH) == 0
        assert calls(stats, PAGES) <= 8
        # Another run exports normally through the same client.
        result = ExportJob(client, other_campaign_id, other_run_id).run()
        assert result.num_files == 4
    assert run_id in str(failure.value) and campaign_id in str(failure.value)
    assert calls(sim.stats(), PUBLISH) == 2
