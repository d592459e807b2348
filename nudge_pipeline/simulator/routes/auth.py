"""POST /v1/auth (key + secret) and GET /v1/auth (re-authenticate with the current token)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request

from nudge_pipeline.simulator import errors
from nudge_pipeline.simulator.auth import (
    auth_failure,
    authenticate_for_reauth,
    check_login_headers,
    token_response,
)
from nudge_pipeline.simulator.routes.common import json_body, require, sim_state, spec, string_field

router = APIRouter()


@router.post(
    "/v1/auth",
    openapi_extra=spec({"api_key": "string", "api_secret": "string"}, ("api_key", "api_secret")),
)
async def authenticate_route(request: Request) -> dict[str, Any]:
    state = sim_state(request)
    check_login_headers(state, request)
    body = await json_body(request)
    require(body, "api_key", "api_secret")
    api_key, api_secret = string_field(body, "api_key"), string_field(body, "api_secret")
    for account in state.world.accounts:
        key_ok = hmac.compare_digest(account.api_key.encode(), api_key.encode())
        secret_ok = hmac.compare_digest(account.api_secret.encode(), api_secret.encode())
        if key_ok and secret_ok:
            return token_response(account, state.config.token_ttl)
    raise auth_failure(state, errors.UNAUTHORIZED)


@router.get("/v1/auth")
async def reauthenticate_route(request: Request) -> dict[str, Any]:
    state = sim_state(request)
    principal = authenticate_for_reauth(state, request)
    return token_response(principal.account, state.config.token_ttl)
