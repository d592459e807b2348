"""Discovery: campaigns, their run history and customer groups, with each run's eligibility.

Shared by the discovery sensor and `nudge-pipeline sync`, so both decide the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from nudge_pipeline.landing.eligibility import COMPLETED, Eligibility, publish_eligibility
from nudge_pipeline.landing.engine import RunToLand
from nudge_pipeline.landing.failures import GLOBAL_CAUSES, cause_of
from nudge_pipeline.landing.keys import (
    PartitionKeyError,
    campaign_run_key,
    customer_group_key,
    parse_campaign_run_key,
)
from nudge_pipeline.nudgescribe.client import NudgescribeClient
from nudge_pipeline.nudgescribe.errors import NudgescribeError
from nudge_pipeline.nudgescribe.models import Campaign, CampaignRun, CustomerGroup


@dataclass(frozen=True)
class DiscoveredRun:
    campaign: Campaign
    run: CampaignRun
    eligibility: Eligibility
    partition_key: str | None  # None when an id cannot be a partition key
    key_error: str | None = None

    @property
    def completed(self) -> bool:
        return (self.run.status or "").strip().casefold() == COMPLETED


@dataclass
class Discovery:
    campaigns: list[Campaign]
    runs: list[DiscoveredRun]
    customer_groups: list[CustomerGroup]
    rejected_groups: list[str] = field(default_factory=list)
    # Campaigns whose run history could not be read: campaign_id -> the error.
    failed_campaigns: dict[str, NudgescribeError] = field(default_factory=dict)

    @property
    def completed_runs(self) -> list[DiscoveredRun]:
        return [r for r in self.runs if r.completed]

    @property
    def run_partition_keys(self) -> list[str]:
        return [r.partition_key for r in self.completed_runs if r.partition_key]

    @property
    def eligible_partition_keys(self) -> list[str]:
        return [
            r.partition_key
            for r in self.completed_runs
            if r.partition_key and r.eligibility.eligible
        ]

    @property
    def rejected_runs(self) -> list[DiscoveredRun]:
        return [r for r in self.completed_runs if r.key_error]

    @property
    def group_partition_keys(self) -> list[str]:
        return [g.customer_group_id for g in self.customer_groups]


def workspace_ids(campaigns: Iterable[Campaign]) -> list[str]:
    return list(dict.fromkeys(c.workspace_id for c in campaigns if c.workspace_id))


def discover_runs(
    client: NudgescribeClient,
    campaigns: Sequence[Campaign],
    allowed_stages: Sequence[str],
    failed: dict[str, NudgescribeError],
    readers: int = 1,
) -> list[DiscoveredRun]:
    """Runs of each campaign. A campaign whose history cannot be read goes into `failed`
    and the others are still discovered, unless the cause rules out them all.

    `readers` histories are read at once (NUDGE_PARALLEL_DOWNLOADS, the requests a step may
    have in flight): one call per campaign, whose round trips to a remote API would
    otherwise add up before the first publish.
    """

    def history(campaign: Campaign) -> list[CampaignRun] | NudgescribeError:
        try:
            return client.list_runs(campaign.campaign_id)
        except NudgescribeError as exc:
            return exc

    found: list[DiscoveredRun] = []
    if not campaigns:
        return found
    with ThreadPoolExecutor(
        max(1, min(readers, len(campaigns))), thread_name_prefix="run-history"
    ) as pool:
        histories = list(pool.map(history, campaigns))
    for campaign, runs in zip(campaigns, histories, strict=True):
        if isinstance(runs, NudgescribeError):
            if cause_of(runs) in GLOBAL_CAUSES:
                raise runs
            failed[campaign.campaign_id] = runs
            continue
        for run in runs:
            eligibility = publish_eligibility(run.status, campaign.stage, allowed_stages)
            try:
                key: str | None = campaign_run_key(campaign.campaign_id, run.run_id)
                error = None
            except PartitionKeyError as exc:
                key, error = None, str(exc)
            found.append(DiscoveredRun(campaign, run, eligibility, key, error))
    return found


def discover(
    client: NudgescribeClient,
    allowed_stages: Sequence[str],
    campaign_ids: Sequence[str] | None = None,
    *,
    with_groups: bool = True,
    readers: int = 1,
) -> Discovery:
    campaigns = client.list_campaigns()
    if campaign_ids:
        wanted = set(campaign_ids)
        campaigns = [c for c in campaigns if c.campaign_id in wanted]
    failed: dict[str, NudgescribeError] = {}
    runs = discover_runs(client, campaigns, allowed_stages, failed, readers)
    groups: list[CustomerGroup] = []
    rejected: list[str] = []
    referenced = {c.customer_group_id for c in campaigns if c.customer_group_id}
    for workspace_id in workspace_ids(campaigns) if with_groups else []:
        for group in client.list_customer_groups(workspace_id):
            if campaign_ids and group.customer_group_id not in referenced:
                continue
            try:
                customer_group_key(group.customer_group_id)
            except PartitionKeyError as exc:
                rejected.append(str(exc))
                continue
            groups.append(group)
    return Discovery(campaigns, runs, groups, rejected, failed)


# A sync discovers once, then runs the assets in the same process; they reuse what it found
# rather than listing every campaign and run history again. Runs launched elsewhere (the
# daemon, the webserver) find nothing here and discover for themselves.
RECENT_SECONDS = 120.0
AccountKey = tuple[str, ...]
_recent: dict[AccountKey, tuple[float, Discovery]] = {}
_recent_lock = threading.Lock()


def account_key(base_url: str, api_code: str, publish_stages: str) -> AccountKey:
    """Which account, and which publish policy, a discovery describes."""
    return (base_url, api_code, publish_stages)


def remember_discovery(account: AccountKey, found: Discovery) -> None:
    """Keep a whole-account discovery that read every campaign's history."""
    if found.failed_campaigns:
        return
    with _recent_lock:
        _recent[account] = (time.monotonic(), found)


def recent_discovery(account: AccountKey) -> Discovery | None:
    with _recent_lock:
        entry = _recent.get(account)
    if entry is None or time.monotonic() - entry[0] > RECENT_SECONDS:
        return None
    return entry[1]


def forget_discoveries() -> None:
    with _recent_lock:
        _recent.clear()


def runs_to_land(found: Discovery, keys: Iterable[str]) -> list[RunToLand]:
    """What the engine needs to know of each campaign_runs key; gone runs are not eligible.

    Keys of campaigns whose run history could not be read are left out (see
    `found.failed_campaigns`): they are failures, not skips.
    """
    by_key = {r.partition_key: r for r in found.runs if r.partition_key}
    listed = {c.campaign_id for c in found.campaigns}
    runs = []
    for key in keys:
        campaign_id, run_id = parse_campaign_run_key(key)
        if campaign_id in found.failed_campaigns:
            continue
        seen = by_key.get(key)
        if seen is None:
            reason = (
                f"campaign {campaign_id} no longer exists"
                if campaign_id not in listed
                else f"run {run_id} is no longer listed in the campaign's run history"
            )
            runs.append(RunToLand(campaign_id, run_id, eligible=False, reason=reason))
            continue
        campaign, run = seen.campaign, seen.run
        runs.append(
            RunToLand(
                campaign_id,
                run_id,
                eligible=seen.eligibility.eligible,
                reason="" if seen.eligibility.eligible else seen.eligibility.reason,
                message_count=run.message_count,
                campaign_name=campaign.campaign_name or "",
                workspace_name=campaign.workspace_name or "",
                stage=campaign.stage or "",
                run_number=run.run_number,
            )
        )
    return runs
