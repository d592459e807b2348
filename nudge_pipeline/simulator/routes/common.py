"""Request parsing shared by the /v1 routes.

Bodies are parsed by hand rather than by FastAPI models so that errors carry the vendor's
status codes and texts (401 "Missing required fields.", 400 "Malformed JSON") instead of 422.
The OpenAPI schema still describes every body through openapi_extra.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from nudge_pipeline.simulator import errors
from nudge_pipeline.simulator.auth import Principal, authenticate
from nudge_pipeline.simulator.errors import ApiError
from nudge_pipeline.simulator.state import SimState


def sim_state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


async def authed(request: Request) -> tuple[SimState, Principal]:
    state = sim_state(request)
    return state, authenticate(state, request)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, errors.MALFORMED_JSON) from None
    if not isinstance(body, dict):
        raise ApiError(400, errors.MALFORMED_JSON)
    return body


def _present(value: Any) -> bool:
    return value is not None and value != ""


def require(body: dict[str, Any], *names: str) -> None:
    if not all(_present(body.get(name)) for name in names):
        raise ApiError(401, errors.MISSING_FIELDS)


def string_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(400, errors.INVALID_TYPES)
    return value


def optional_string(body: dict[str, Any], name: str) -> str | None:
    return string_field(body, name) if _present(body.get(name)) else None


def int_field(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, errors.INVALID_TYPES)
    return value


def spec(properties: dict[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """openapi_extra describing a JSON body; values are JSON schema type names."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: {"type": kind} for name, kind in properties.items()},
    }
    if required:
        schema["required"] = list(required)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }
