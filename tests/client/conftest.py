"""Helpers for client tests: fast client settings against the simulator or a scripted server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from nudge_pipeline.nudgescribe import ClientConfig, NudgescribeClient

from .hostile import HostileServer

# Short waits keep the suite fast; the export cost tests override the poll settings.
FAST: dict[str, Any] = {
    "poll_initial": 0.2,
    "poll_max": 1.0,
    "settle_seconds": 0.6,
    "backoff_initial": 0.02,
    "backoff_max": 0.2,
    "retry_after_cap": 1.5,
    "max_attempts": 8,
    "retry_max_seconds": 30.0,
    "connect_timeout": 3.0,
    "read_timeout": 10.0,
    "export_deadline_seconds": 60.0,
}


def sim_config(sim: Any, account: Any = None, **overrides: Any) -> ClientConfig:
    account = account or sim.account
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "api_code": account.api_code,
        "api_key": account.api_key,
        "api_secret": account.api_secret,
        **FAST,
    }
    values.update(overrides)
    return ClientConfig(**values)


def sim_client(sim: Any, account: Any = None, **overrides: Any) -> NudgescribeClient:
    return NudgescribeClient(sim_config(sim, account, **overrides))


def calls(stats: dict[str, Any], key: str) -> int:
    return int(stats["calls"].get(key, 0))


def fake_jwt(ttl: float = 3600.0) -> str:
    return jwt.encode(
        {"user_id": "u1", "account_id": "a1", "role_code": "api", "exp": int(time.time() + ttl)},
        "a-signing-key-the-server-never-saw-0123456789",
        algorithm="HS256",
    )


def hostile_client(server: HostileServer, **overrides: Any) -> NudgescribeClient:
    """Static-token client against the scripted server (no auth endpoint needed)."""
    values: dict[str, Any] = {
        "base_url": server.url,
        "api_code": "code-for-tests",
        "token": fake_jwt(),
        **FAST,
    }
    values.update(overrides)
    return NudgescribeClient(ClientConfig(**values))


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server
