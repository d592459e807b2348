"""A tampering proxy on loopback, in front of the simulator.

Every request is forwarded to the simulator unchanged, except those a test scripts: for
one campaign, run, file or customer group, the proxy rewrites (or replaces) the answer
with one the simulator never gives: HTML with a 200, cut JSON, wrong types, broken CSV,
a pre-signed URL to a foreign host. Everything else passes through, so the other
partitions of the same pipeline run meet the real simulator.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.loopback_server import LoopbackServer, RawAnswer

# Hop-by-hop or recomputed headers: never copied between the two legs.
_SKIP_REQUEST_HEADERS = {"host", "content-length", "connection", "accept-encoding"}
_KEEP_RESPONSE_HEADERS = {"content-type", "retry-after", "location"}


class Answer(RawAnswer):
    @classmethod
    def json(cls, data: Any, status: int = 200) -> Answer:
        return cls(status, json.dumps(data).encode(), {"content-type": "application/json"})

    @classmethod
    def csv(cls, text: bytes) -> Answer:
        return cls(200, text, {"content-type": "text/csv; charset=utf-8"})

    @classmethod
    def html(cls, text: str = "<html><body>502 Bad Gateway</body></html>") -> Answer:
        return cls(200, text.encode(), {"content-type": "text/html"})

    def data(self) -> Any:
        return json.loads(self.body)

    def with_json(self, data: Any) -> Answer:
        return replace(self, body=json.dumps(data).encode())


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Rewrite = Callable[[Answer, Any], Answer]


@dataclass
class Rule:
    key: str  # "METHOD /path"
    match: dict[str, Any]  # request body fields that must be equal (as strings)
    rewrite: Rewrite  # (upstream answer or None, request body) -> answer
    forward: bool
    times: int | None
    used: int = 0

    def applies(self, key: str, body: Any) -> bool:
        if key != self.key or (self.times is not None and self.used >= self.times):
            return False
        if not self.match:
            return True
        if not isinstance(body, dict):
            return False
        return all(str(body.get(k)) == str(v) for k, v in self.match.items())


class TamperingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        # field -> {id the client sees: id the simulator knows}
        self.aliases: dict[str, dict[str, str]] = {"campaign_id": {}, "run_id": {}}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._server = LoopbackServer(self._answer)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    def tamper(
        self,
        key: str,
        rewrite: Rewrite,
        *,
        forward: bool = True,
        times: int | None = None,
        **match: Any,
    ) -> Rule:
        """Rewrite answers of `key` whose request body holds `match`; the newest rule wins."""
        rule = Rule(key, match, rewrite, forward, times)
        with self._lock:
            self.rules.insert(0, rule)
        return rule

    def alias(self, field_name: str, shown: str, real: str) -> None:
        """Show the simulator's `real` id as `shown` (in answers) and map it back in requests."""
        with self._lock:
            self.aliases[field_name][shown] = real

    def _to_upstream(self, body: Any) -> Any:
        if not isinstance(body, dict):
            return body
        return {
            k: self.aliases[k].get(v, v) if k in self.aliases and isinstance(v, str) else v
            for k, v in body.items()
        }

    def _to_client(self, data: Any) -> Any:
        if isinstance(data, list):
            return [self._to_client(item) for item in data]
        if not isinstance(data, dict):
            return data
        shown_for = {k: {r: s for s, r in m.items()} for k, m in self.aliases.items()}
        return {
            k: (
                shown_for[k].get(v, v)
                if k in shown_for and isinstance(v, str)
                else self._to_client(v)
            )
            for k, v in data.items()
        }

    def replace(self, key: str, answer: Answer, **match: Any) -> Rule:
        """Answer `key` with `answer` without asking the simulator."""
        return self.tamper(key, lambda _upstream, _body: answer, forward=False, **match)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.requests.clear()
            for mapping in self.aliases.values():
                mapping.clear()

    def calls(self, key: str, **match: Any) -> int:
        method, path = key.split(" ", 1)
        with self._lock:
            seen = list(self.requests)
        return sum(
            1
            for r in seen
            if r.method == method
            and r.path == path
            and all(
                isinstance(r.body, dict) and str(r.body.get(k)) == str(v) for k, v in match.items()
            )
        )

    def start(self) -> TamperingProxy:
        self._server.start()
        return self

    def close(self) -> None:
        self._server.close()
        self._session.close()

    def __enter__(self) -> TamperingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving ------------------------------------------------------------------------

    def _forward(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        sent = {k: v for k, v in headers.items() if k not in _SKIP_REQUEST_HEADERS}
        sent["Accept-Encoding"] = "identity"
        response = self._session.request(
            method, self.upstream + path, headers=sent, data=raw or None, timeout=60
        )
        kept = {
            k.lower(): v for k, v in response.headers.items() if k.lower() in _KEEP_RESPONSE_HEADERS
        }
        return Answer(response.status_code, response.content, kept)

    def _answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        path = urlsplit(target).path
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        key = f"{method} {path}"
        with self._lock:
            self.requests.append(Seen(method, path, headers, body))
            rule = next((r for r in self.rules if r.applies(key, body)), None)
            if rule is not None:
                rule.used += 1
        upstream = Answer()
        if rule is None or rule.forward:
            upstream = self._forward_translated(method, target, headers, raw, body)
        return upstream if rule is None else rule.rewrite(upstream, body)

    def _forward_translated(
        self, method: str, target: str, headers: dict[str, str], raw: bytes, body: Any
    ) -> Answer:
        if not any(self.aliases.values()):
            return self._forward(method, target, headers, raw)
        if isinstance(body, dict):
            raw = json.dumps(self._to_upstream(body)).encode()
        answer = self._forward(method, target, headers, raw)
        if "json" in answer.headers.get("content-type", ""):
            answer = answer.with_json(self._to_client(answer.data()))
        return answer
