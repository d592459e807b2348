"""What a sync would do, decided without a single mutating call.

Discovery (listing campaigns, run histories and customer groups) and the run records in
the lake are enough: a run whose record holds a completed export is reused, one already
loaded is up to date, and every other eligible run would be published, spending one unit
of the account's quota. `pages` is not asked either: its calls are metered too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from nudge_pipeline.lake import Lake
from nudge_pipeline.landing.discovery import discover
from nudge_pipeline.landing.keys import parse_campaign_run_key
from nudge_pipeline.landing.record import RunRecordStore, RunState
from nudge_pipeline.nudgescribe.client import NudgescribeClient

PUBLISH = "publish"
REUSE = "reuse"
UP_TO_DATE = "up to date"
SKIP = "skip"


@dataclass(frozen=True)
class PlannedRun:
    key: str
    campaign_id: str
    run_id: str
    campaign_name: str
    stage: str
    action: str  # publish | reuse | up to date | skip
    reason: str


@dataclass(frozen=True)
class SyncPlan:
    runs: list[PlannedRun]
    unreadable_campaigns: dict[str, str]

    @property
    def quota(self) -> int:
        """Publishes a sync would make: each spends one unit of the account's quota."""
        return sum(1 for r in self.runs if r.action == PUBLISH)

    def counts(self) -> Counter[str]:
        return Counter(r.action for r in self.runs)

    def skip_reasons(self) -> Counter[str]:
        return Counter(r.reason for r in self.runs if r.action == SKIP)

    def as_json(self) -> dict[str, object]:
        return {
            "publish": self.quota,
            "quota_spent": self.quota,
            "counts": dict(self.counts()),
            "runs": [asdict(r) for r in self.runs],
            "unreadable_campaigns": self.unreadable_campaigns,
        }


def plan_sync(
    client: NudgescribeClient,
    lake: Lake,
    allowed_stages: Sequence[str],
    campaign_ids: Sequence[str] = (),
) -> SyncPlan:
    found = discover(client, allowed_stages, campaign_ids or None, with_groups=False)
    records = RunRecordStore(lake)
    planned = []
    for run in found.completed_runs:
        if not run.partition_key:
            continue
        campaign_id, run_id = parse_campaign_run_key(run.partition_key)
        action, reason = SKIP, run.eligibility.reason
        if run.eligibility.eligible:
            record = records.get(campaign_id, run_id)
            if record is not None and record.state is RunState.LOADED:
                action, reason = UP_TO_DATE, f"loaded {record.loaded_at}"
            elif record is not None and record.export_complete:
                action, reason = REUSE, f"export {record.job_id} completed {record.exported_at}"
            elif record is not None and record.job_id:
                action, reason = REUSE, f"export {record.job_id} published, not yet complete"
            else:
                action, reason = PUBLISH, "no export yet"
        planned.append(
            PlannedRun(
                run.partition_key,
                campaign_id,
                run_id,
                run.campaign.campaign_name or "",
                run.campaign.stage or "",
                action,
                reason,
            )
        )
    unreadable = {c: str(e) for c, e in found.failed_campaigns.items()}
    return SyncPlan(planned, unreadable)
