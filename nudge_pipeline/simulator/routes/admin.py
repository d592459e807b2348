"""/__sim/* routes for tests and benchmarks. Never faulted, never counted."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from nudge_pipeline.simulator.auth import issue_token
from nudge_pipeline.simulator.data import now_iso
from nudge_pipeline.simulator.routes.campaigns import new_run
from nudge_pipeline.simulator.routes.common import sim_state

router = APIRouter(prefix="/__sim", include_in_schema=False)


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


@router.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@router.get("/info")
async def info(request: Request) -> dict[str, Any]:
    return sim_state(request).connection_info()


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    state = sim_state(request)
    return state.stats.snapshot(state.config.publish_quota)


@router.post("/reset-stats")
async def reset_stats(request: Request) -> dict[str, bool]:
    body = await request.json() if await request.body() else {}
    sim_state(request).stats.reset(quota=bool(body.get("quota", False)))
    return {"ok": True}


@router.get("/config")
async def get_config(request: Request) -> Any:
    return json.loads(sim_state(request).config.to_json())


@router.post("/config", response_model=None)
async def set_config(request: Request) -> Any:
    changes = await request.json()
    if not isinstance(changes, dict):
        return _bad("expected a JSON object of settings")
    try:
        config = sim_state(request).configure(changes)
    except (TypeError, ValueError) as exc:
        return _bad(str(exc))
    return json.loads(config.to_json())


@router.post("/runs", response_model=None)
async def add_run(request: Request) -> Any:
    body = await request.json()
    state = sim_state(request)
    with state.world_lock:
        campaign = state.world.campaigns.get(str(body.get("campaign_id")))
        if campaign is None:
            return _bad("no such campaign", 404)
        status = str(body.get("status", "completed"))
        count = int(body.get("message_count", state.config.messages_per_run))
        run = new_run(
            state, campaign, status=status, message_count=count if status == "completed" else 0
        )
        stamp = now_iso()
        run.started_at = stamp if status != "queued" else None
        run.completed_at = stamp if status == "completed" else None
        return run.public()


@router.delete("/campaigns/{campaign_id}", response_model=None)
async def delete_campaign(request: Request, campaign_id: str) -> Any:
    state = sim_state(request)
    with state.world_lock:
        if state.world.campaigns.pop(campaign_id, None) is None:
            return _bad("no such campaign", 404)
    state.exports.forget_campaign(campaign_id)
    return {"ok": True}


@router.patch("/campaigns/{campaign_id}", response_model=None)
async def update_campaign(request: Request, campaign_id: str) -> Any:
    body = await request.json()
    state = sim_state(request)
    with state.world_lock:
        campaign = state.world.campaigns.get(campaign_id)
        if campaign is None:
            return _bad("no such campaign", 404)
        for name in ("stage", "status", "campaign_name"):
            if name in body:
                setattr(campaign, name, str(body[name]))
        campaign.updated_at = now_iso()
        return campaign.public()


@router.post("/token", response_model=None)
async def mint_token(request: Request) -> Any:
    """A ready JWT for static-token mode; a negative ttl gives an already expired one."""
    body = await request.json() if await request.body() else {}
    state = sim_state(request)
    account_id = body.get("account_id") or state.world.accounts[0].account_id
    account = state.world.account(str(account_id))
    if account is None:
        return _bad("no such account", 404)
    return {"token": issue_token(account, float(body.get("ttl", state.config.token_ttl)))}
