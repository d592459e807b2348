"""Campaign listing and runs (rerun history, run messages, initiate rerun)."""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request

from nudge_pipeline.simulator import errors
from nudge_pipeline.simulator.data import Campaign, Run
from nudge_pipeline.simulator.errors import ApiError
from nudge_pipeline.simulator.lifecycle import advance_campaign
from nudge_pipeline.simulator.messages import iter_messages, recipient_count
from nudge_pipeline.simulator.routes.common import (
    authed,
    int_field,
    json_body,
    require,
    spec,
    string_field,
)
from nudge_pipeline.simulator.state import SimState

router = APIRouter()


def find_campaign(state: SimState, account_id: str, body: dict[str, Any]) -> Campaign:
    campaign = state.world.campaign_of(account_id, string_field(body, "campaign_id"))
    if campaign is None:
        raise ApiError(401, errors.CAMPAIGN_NOT_FOUND)
    advance_campaign(campaign, state.config)
    return campaign


def find_run(campaign: Campaign, run_id: str) -> Run:
    run = next((r for r in campaign.runs if r.run_id == run_id), None)
    if run is None:
        raise ApiError(401, errors.DETAILS_NOT_FOUND)
    return run


def new_run(state: SimState, campaign: Campaign, *, status: str, message_count: int) -> Run:
    world = state.world
    run = Run(
        run_id=str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{world.config.seed}:run:{world.next_format_ordinal}")
        ),
        campaign_id=campaign.campaign_id,
        run_number=max((r.run_number for r in campaign.runs), default=0) + 1,
        status=status,
        started_at=None,
        completed_at=None,
        message_count=message_count,
        format_ordinal=world.next_format_ordinal,
    )
    world.next_format_ordinal += 1
    campaign.runs.append(run)
    return run


@router.post("/v1/campaign/all", openapi_extra=spec({}))
async def all_campaigns(request: Request) -> list[dict[str, Any]]:
    state, principal = await authed(request)
    await json_body(request)
    account_id = principal.account.account_id
    with state.world_lock:
        return [
            {
                "workspace_id": ws.workspace_id,
                "workspace_name": ws.workspace_name,
                "campaigns": [
                    c.public()
                    for c in state.world.campaigns.values()
                    if c.workspace_id == ws.workspace_id and c.account_id == account_id
                ],
            }
            for ws in state.world.workspaces_of(account_id)
        ]


@router.post(
    "/v1/campaign/rerun/history", openapi_extra=spec({"campaign_id": "string"}, ("campaign_id",))
)
async def rerun_history(request: Request) -> list[dict[str, Any]]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "campaign_id")
    with state.world_lock:
        campaign = find_campaign(state, principal.account.account_id, body)
        return [r.public() for r in campaign.runs]


@router.post(
    "/v1/campaign/rerun/messages",
    openapi_extra=spec(
        {"campaign_id": "string", "run_id": "string", "page": "integer"},
        ("campaign_id", "run_id", "page"),
    ),
)
async def run_messages(request: Request) -> dict[str, Any]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "campaign_id", "run_id", "page")
    with state.world_lock:
        campaign = find_campaign(state, principal.account.account_id, body)
        run = find_run(campaign, string_field(body, "run_id"))
        group = state.world.groups.get(campaign.customer_group_id)
    page = int_field(body, "page")
    page_size = state.config.page_size
    pages = math.ceil(run.message_count / page_size)
    if group is None or page < 1:
        return {"messages": [], "page": page, "pages": pages}
    start = (page - 1) * page_size
    recipients = recipient_count(run, group, state.config.messages_to_unknown_customers)
    messages = list(iter_messages(run, group, start, start + page_size, recipients))
    return {"messages": messages, "page": page, "pages": pages}


@router.post("/v1/campaign/rerun", openapi_extra=spec({"campaign_id": "string"}, ("campaign_id",)))
async def initiate_rerun(request: Request) -> dict[str, Any]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "campaign_id")
    with state.world_lock:
        campaign = find_campaign(state, principal.account.account_id, body)
        run = new_run(state, campaign, status="queued", message_count=0)
        run.started_monotonic = time.monotonic()
    return {"run_id": run.run_id, "status": "queued"}
