"""HS256 JWTs and the header checks, in the documented order: api_code, JWT, api_access."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import Request

from nudge_pipeline.simulator import errors
from nudge_pipeline.simulator.data import Account
from nudge_pipeline.simulator.errors import ApiError
from nudge_pipeline.simulator.state import SimState

REAUTH_GRACE_SECONDS = 300


@dataclass(frozen=True)
class Principal:
    account: Account
    claims: dict[str, Any]


def issue_token(account: Account, ttl: float) -> str:
    claims = {
        "user_id": account.user_id,
        "account_id": account.account_id,
        "role_code": account.role_code,
        "iat": int(time.time()),
        "exp": int(time.time() + ttl),
    }
    return jwt.encode(claims, account.token_secret, algorithm="HS256")


def token_response(account: Account, ttl: float) -> dict[str, Any]:
    return {"token": issue_token(account, ttl), "expires_in": int(ttl)}


def auth_failure(state: SimState, message: str) -> ApiError:
    config = state.config
    return ApiError(config.auth_failure_status, "" if config.auth_failure_empty_body else message)


def _auth_context(state: SimState, request: Request) -> dict[str, Any]:
    raw = request.headers.get("x-auth-context")
    try:
        context = json.loads(raw) if raw else None
    except ValueError:
        context = None
    if not isinstance(context, dict) or context.get("api_code") != state.world.api_code:
        raise auth_failure(state, errors.UNAUTHORIZED)
    return context


def check_login_headers(state: SimState, request: Request) -> None:
    """POST /v1/auth has no JWT yet; the other checks keep their order around it."""
    context = _auth_context(state, request)
    _check_access_and_ip(state, request, context)


def _check_access_and_ip(state: SimState, request: Request, context: dict[str, Any]) -> None:
    if context.get("api_access") is not True:
        raise auth_failure(state, errors.UNAUTHORIZED)
    if not request.headers.get("x-ip"):
        raise auth_failure(state, errors.AUTH_ERROR)


def _decode(state: SimState, token: str, *, grace: float) -> tuple[Account, dict[str, Any]]:
    try:
        account_id, claims = _verified_claims(state.world.token_secrets(), token)
    except jwt.PyJWTError:
        raise auth_failure(state, errors.INVALID_TOKEN) from None
    account = state.world.account(account_id)
    if account is None:
        raise auth_failure(state, errors.INVALID_TOKEN)
    if time.time() >= claims["exp"] + grace:
        raise auth_failure(state, errors.JWT_EXPIRED)
    return account, claims


@functools.lru_cache(maxsize=1024)
def _verified_claims(
    secrets: tuple[tuple[str, str], ...], token: str
) -> tuple[str, dict[str, Any]]:
    """Signature and required claims, checked once per token: clients send the same token on
    every call, and verifying it is a large share of a small request. Expiry is checked by
    the caller on every call."""
    unverified = jwt.decode(token, options={"verify_signature": False})
    account_id = str(unverified.get("account_id", ""))
    secret = dict(secrets).get(account_id)
    if secret is None:
        raise jwt.InvalidTokenError("unknown account")
    claims = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        options={"verify_exp": False, "require": ["exp", "account_id", "user_id", "role_code"]},
    )
    if not isinstance(claims["exp"], int | float):
        raise jwt.InvalidTokenError("exp is not a number")
    return account_id, claims


def authenticate(state: SimState, request: Request, *, grace: float = 0.0) -> Principal:
    context = _auth_context(state, request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise auth_failure(state, errors.AUTH_ERROR)
    account, claims = _decode(state, token.strip(), grace=grace)
    _check_access_and_ip(state, request, context)
    api_key = request.headers.get("x-api-key")
    if api_key is not None and api_key != account.api_key:
        raise auth_failure(state, errors.UNAUTHORIZED)
    return Principal(account, claims)


def authenticate_for_reauth(state: SimState, request: Request) -> Principal:
    return authenticate(state, request, grace=REAUTH_GRACE_SECONDS)
