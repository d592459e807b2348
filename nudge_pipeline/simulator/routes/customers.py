"""Customer groups (/v1/cg), customers and their pages, and profile fields."""

from __future__ import annotations

import math
import uuid
from typing import Any

from fastapi import APIRouter, Request

from nudge_pipeline.simulator import errors
from nudge_pipeline.simulator.data import (
    CustomerGroup,
    Workspace,
    customer_record,
    now_iso,
    profile_fields,
)
from nudge_pipeline.simulator.errors import ApiError
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


def _workspace(state: SimState, account_id: str, body: dict[str, Any]) -> Workspace:
    ws = state.world.workspace_of(account_id, string_field(body, "workspace_id"))
    if ws is None:
        raise ApiError(401, errors.WORKSPACE_NOT_FOUND)
    return ws


def _group(state: SimState, account_id: str, body: dict[str, Any]) -> CustomerGroup:
    group = state.world.group_of(account_id, string_field(body, "customer_group_id"))
    if group is None:
        raise ApiError(401, errors.GROUP_NOT_FOUND)
    return group


@router.post("/v1/cg", openapi_extra=spec({"workspace_id": "string"}, ("workspace_id",)))
async def list_groups(request: Request) -> list[dict[str, Any]]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "workspace_id")
    with state.world_lock:
        ws = _workspace(state, principal.account.account_id, body)
        return [
            g.public() for g in state.world.groups.values() if g.workspace_id == ws.workspace_id
        ]


@router.put(
    "/v1/cg",
    openapi_extra=spec(
        {"workspace_id": "string", "group_name": "string"}, ("workspace_id", "group_name")
    ),
)
async def create_group(request: Request) -> dict[str, Any]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "workspace_id", "group_name")
    account = principal.account
    with state.world_lock:
        ws = _workspace(state, account.account_id, body)
        world = state.world
        stamp = now_iso()
        group = CustomerGroup(
            customer_group_id=str(
                uuid.uuid5(
                    uuid.NAMESPACE_URL, f"{world.config.seed}:group:{world.next_group_ordinal}"
                )
            ),
            account_id=account.account_id,
            workspace_id=ws.workspace_id,
            group_name=string_field(body, "group_name"),
            created_at=stamp,
            updated_at=stamp,
            created_by=account.user_id,
            updated_by=account.user_id,
            ordinal=world.next_group_ordinal,
            customer_count=0,
        )
        world.next_group_ordinal += 1
        world.groups[group.customer_group_id] = group
    public = group.public()
    del public["updated_by"]  # the documented create response has no updated_by
    return public


@router.patch(
    "/v1/cg",
    openapi_extra=spec(
        {"workspace_id": "string", "customer_group_id": "string", "group_name": "string"},
        ("workspace_id", "customer_group_id", "group_name"),
    ),
)
async def update_group(request: Request) -> dict[str, Any]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "workspace_id", "customer_group_id", "group_name")
    with state.world_lock:
        ws = _workspace(state, principal.account.account_id, body)
        group = _group(state, principal.account.account_id, body)
        if group.workspace_id != ws.workspace_id:
            raise ApiError(401, errors.GROUP_NOT_FOUND)
        group.group_name = string_field(body, "group_name")
        group.updated_at = now_iso()
        group.updated_by = principal.account.user_id
    # Keys with a trailing tab, exactly as in the vendor's documented example.
    return {
        "customer_group_id": group.customer_group_id,
        "workspace_id": group.workspace_id,
        "group_name": group.group_name,
        "created_at\t": group.created_at,
        "updated_at\t": group.updated_at,
    }


@router.delete(
    "/v1/cg",
    openapi_extra=spec(
        {"workspace_id": "string", "customer_group_id": "string"},
        ("workspace_id", "customer_group_id"),
    ),
)
async def delete_group(request: Request) -> dict[str, Any]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "workspace_id", "customer_group_id")
    with state.world_lock:
        ws = _workspace(state, principal.account.account_id, body)
        group = _group(state, principal.account.account_id, body)
        if group.workspace_id != ws.workspace_id:
            raise ApiError(401, errors.GROUP_NOT_FOUND)
        del state.world.groups[group.customer_group_id]
    return {"message": "Customer group deleted."}


@router.post(
    "/v1/customer/pages",
    openapi_extra=spec({"customer_group_id": "string"}, ("customer_group_id",)),
)
async def customer_pages(request: Request) -> dict[str, Any]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "customer_group_id")
    group = _group(state, principal.account.account_id, body)
    page_size = state.config.page_size
    answer: dict[str, Any] = {
        "pages": math.ceil(group.customer_count / page_size),
        "page_size": page_size,
    }
    if not state.config.customer_pages_omit_total:
        answer["total"] = group.customer_count
    return answer


@router.post(
    "/v1/customer",
    openapi_extra=spec(
        {"customer_group_id": "string", "page": "integer"}, ("customer_group_id", "page")
    ),
)
async def customers_page(request: Request) -> list[dict[str, Any]]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "customer_group_id", "page")
    group = _group(state, principal.account.account_id, body)
    page = int_field(body, "page")
    if page < 1:
        return []
    page_size = state.config.page_size
    start = (page - 1) * page_size
    stop = min(start + page_size, group.customer_count)
    return [customer_record(state.world, group, i) for i in range(start, stop)]


@router.post("/v1/fields", openapi_extra=spec({"workspace_id": "string"}, ("workspace_id",)))
async def list_fields(request: Request) -> list[dict[str, Any]]:
    state, principal = await authed(request)
    body = await json_body(request)
    require(body, "workspace_id")
    ws = _workspace(state, principal.account.account_id, body)
    return profile_fields(state.world, ws)
