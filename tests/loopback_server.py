"""A threaded HTTP server on 127.0.0.1 whose answers a test computes, including broken ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class RawAnswer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Announce the full Content-Length but send only this many bytes, then close.
    cut_after: int | None = None
    # Send this many bytes, wait this long, then send the rest.
    pause_after: tuple[int, float] | None = None


# (method, request target, lower-cased headers, raw body) -> the answer to send
Respond = Callable[[str, str, dict[str, str], bytes], RawAnswer]


class LoopbackServer:
    def __init__(self, respond: Respond, port: int = 0) -> None:
        # port: 0 for a free one, or a port a closed server had, to bring it back.
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(respond))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(respond: Respond) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = respond(self.command, self.path, headers, raw)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            if answer.cut_after is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            if answer.cut_after is not None:
                self.wfile.write(answer.body[: answer.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            if answer.pause_after is not None:
                first, seconds = answer.pause_after
                self.wfile.write(answer.body[:first])
                self.wfile.flush()
                time.sleep(seconds)
                self.wfile.write(answer.body[first:])
                return
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
