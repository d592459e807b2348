"""Discovery reads the campaigns' run histories side by side, and reports them in order."""

from typing import Any

from nudge_pipeline.landing.discovery import discover
from tests.e2e.helpers import client_for

READERS = 3


def test_run_histories_are_read_side_by_side_and_reported_in_campaign_order(
    make_simulator: Any,
) -> None:
    # A latency long enough that requests sent together are seen in flight together.
    sim = make_simulator(workspaces=1, campaigns_per_stage=2, latency_ms=300)
    with client_for(sim) as client:
        campaigns = client.list_campaigns()
        expected = [
            (c.campaign_id, r.run_id) for c in campaigns for r in client.list_runs(c.campaign_id)
        ]
        assert len(campaigns) > READERS
        sim.reset_stats()
        found = discover(client, ["Published"], with_groups=False, readers=READERS)
    stats = sim.stats()
    assert stats["calls"]["POST /v1/campaign/rerun/history"] == len(campaigns)
    assert stats["concurrent_high_water"] > 1, "histories were read one after another"
    assert stats["concurrent_high_water"] <= READERS
    assert [(r.campaign.campaign_id, r.run.run_id) for r in found.runs] == expected
    assert found.failed_campaigns == {}
