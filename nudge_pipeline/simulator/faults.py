"""ASGI middleware: call accounting plus seeded fault injection on /v1 and storage routes.

Faults are drawn from (seed, endpoint, per-endpoint call index), so a client that makes the
same sequence of calls meets the same faults. /__sim/* routes are never touched.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nudge_pipeline.simulator.config import SimConfig
from nudge_pipeline.simulator.draws import draw
from nudge_pipeline.simulator.pathsend import PATHSEND, ClientGone, offer_pathsend, send_path
from nudge_pipeline.simulator.state import SimState

STORAGE_KEY = "GET /storage"
_5XX = (500, 502, 503, 504)


def endpoint_key(method: str, path: str) -> str | None:
    if path.startswith("/storage/"):
        return f"{method} /storage"
    if path == "/v1" or path.startswith("/v1/"):
        return f"{method} {path.rstrip('/')}"
    return None


@dataclass(frozen=True)
class FaultPlan:
    kind: str | None  # "drop" | "429" | "5xx" | None
    status: int = 0
    cut_body_at: float | None = None  # fraction of the body sent before the connection closes


def plan_fault(config: SimConfig, key: str, n: int) -> FaultPlan:
    if config.fault_endpoints is not None and key not in config.fault_endpoints:
        return FaultPlan(None)
    rates = (
        config.fault_drop_rate,
        config.fault_429_rate,
        config.fault_5xx_rate,
        config.fault_cut_body_rate,
    )
    if not any(rates):
        return FaultPlan(None)  # the draws below could not hit anything
    seed = config.seed
    u = draw(seed, key, n, "kind")
    cut = None
    if draw(seed, key, n, "cut") < config.fault_cut_body_rate:
        cut = 0.1 + 0.8 * draw(seed, key, n, "cut-at")
    edge = config.fault_drop_rate
    if u < edge:
        return FaultPlan("drop")
    edge += config.fault_429_rate
    if u < edge:
        return FaultPlan("429", 429)
    edge += config.fault_5xx_rate
    if u < edge:
        return FaultPlan("5xx", _5XX[int(draw(seed, key, n, "status") * len(_5XX))])
    return FaultPlan(None, cut_body_at=cut)


def _close_connection(send: Send) -> bool:
    """Close the client's TCP connection from inside the app (uvicorn exposes no API for it)."""
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.close()
    cycle.disconnected = True
    return True


class _ConnectionCut(Exception):
    pass


def _error_response(config: SimConfig, status: int) -> tuple[list[tuple[bytes, bytes]], bytes]:
    if status == 429:
        retry_after = (
            formatdate(time.time() + config.retry_after_seconds, usegmt=True)
            if config.retry_after_form == "http-date"
            else str(config.retry_after_seconds)
        )
        body = json.dumps({"message": "Too Many Requests"}).encode()
        return [
            (b"content-type", b"application/json"),
            (b"retry-after", retry_after.encode()),
        ], body
    if status in (502, 504):
        # Gateways answer in HTML, not in the vendor's JSON shape.
        text = "Bad Gateway" if status == 502 else "Gateway Timeout"
        body = f"<html><body><h1>{status} {text}</h1></body></html>".encode()
        return [(b"content-type", b"text/html")], body
    text = "Internal Server Error" if status == 500 else "Service Unavailable"
    return [(b"content-type", b"application/json")], json.dumps({"message": text}).encode()


class SimMiddleware:
    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = endpoint_key(scope["method"], scope["path"])
        if key is None:
            await self.app(scope, receive, send)
            return
        stats = self.state.stats
        is_api = key != STORAGE_KEY
        stats.request_started(key, is_api)
        status: list[int] = []

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body":
                stats.bytes_served(len(message.get("body", b"")))
            await send(message)

        try:
            await self._handle(scope, receive, send, tracking_send, key)
        finally:
            stats.request_finished(key, status[0] if status else None, is_api)

    async def _handle(
        self, scope: Scope, receive: Receive, raw_send: Send, send: Send, key: str
    ) -> None:
        config = self.state.config
        if config.latency_ms > 0:
            await asyncio.sleep(config.latency_ms / 1000)
        plan = plan_fault(config, key, self.state.next_fault_draw(key))
        if plan.kind == "drop" and _close_connection(raw_send):
            self.state.stats.fault("drop")
            return
        if plan.kind in ("429", "5xx"):
            self.state.stats.fault(str(plan.status))
            headers, body = _error_response(config, plan.status)
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": plan.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        cut_at = plan.cut_body_at
        try:
            await self.app(offer_pathsend(scope), receive, self._body_send(raw_send, send, cut_at))
        except _ConnectionCut:
            self.state.stats.fault("cut_body")
        except ClientGone:
            pass  # nothing to answer on a broken connection

    def _body_send(self, raw_send: Send, send: Send, cut_at: float | None) -> Send:
        """Forwards the app's messages, serves pathsend messages, and, when cut_at is set,
        drops the connection after that fraction of a CSV body."""
        limit: list[int] = []
        sent = 0

        def cut() -> None:
            if _close_connection(raw_send):
                raise _ConnectionCut()
            raise RuntimeError("cannot cut the connection on this server")

        async def body_send(message: Message) -> None:
            nonlocal sent
            kind = message["type"]
            if kind == "http.response.start":
                headers = dict(message.get("headers", []))
                is_csv = headers.get(b"content-type", b"").startswith(b"text/csv")
                length = headers.get(b"content-length")
                if cut_at is not None and is_csv and length:
                    limit.append(max(1, int(int(length) * cut_at)))
                await send(message)
            elif kind == PATHSEND:
                count, size = await send_path(message, raw_send, limit[0] - sent if limit else None)
                sent += count
                self.state.stats.bytes_served(count)
                if count < size:
                    cut()
            elif not limit or sent + len(message.get("body", b"")) < limit[0]:
                sent += len(message.get("body", b""))
                await send(message)
            else:
                body = message.get("body", b"")[: limit[0] - sent]
                await send({"type": "http.response.body", "body": body, "more_body": True})
                cut()

        return body_send
