"""A scripted HTTP server on loopback for responses the simulator never gives."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from tests.loopback_server import LoopbackServer, RawAnswer


@dataclass
class Reply(RawAnswer):
    """A RawAnswer whose body may also be text or JSON-able data."""

    body: Any = b""

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


Responder = Reply | Callable[[Seen], Reply]


class HostileServer:
    def __init__(self) -> None:
        self.routes: dict[str, list[Responder]] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._respond)

    @property
    def url(self) -> str:
        return self._server.url

    def route(self, key: str, *replies: Responder) -> None:
        """Replies are served in order; the last one repeats."""
        self.routes[key] = list(replies)

    def calls(self, key: str) -> int:
        method, path = key.split(" ", 1)
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    def __enter__(self) -> HostileServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()

    def _next(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            queue = self.routes.get(f"{seen.method} {seen.path}")
            if not queue:
                return Reply(404, {"message": "no such route"})
            responder = queue.pop(0) if len(queue) > 1 else queue[0]
        return responder(seen) if callable(responder) else responder

    def _respond(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> RawAnswer:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        parts = urlsplit(target)
        reply = self._next(Seen(method, parts.path, parts.query, headers, body))
        payload, content_type = reply.encoded()
        return replace(reply, body=payload, headers={"Content-Type": content_type, **reply.headers})
