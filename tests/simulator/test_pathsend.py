"""The pathsend fallback: a server without zero-copy sendfile gets the file as body messages.

Over HTTP the simulator always takes the sendfile path (uvicorn on the standard loop); the
fallback is what another ASGI server would get, so it is driven here through its ASGI send.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from nudge_pipeline.simulator.pathsend import FALLBACK_CHUNK, PATHSEND, send_path


def _send_file(path: Path, limit: int | None) -> tuple[tuple[int, int], list[dict[str, Any]]]:
    messages: list[dict[str, Any]] = []

    async def send(message: Any) -> None:  # a plain ASGI send: no transport behind it
        messages.append(message)

    result = asyncio.run(send_path({"type": PATHSEND, "path": str(path)}, send, limit))
    return result, messages


def test_whole_file_goes_out_in_1_mib_body_messages(tmp_path: Path) -> None:
    content = os.urandom(2 * FALLBACK_CHUNK + 12345)
    path = tmp_path / "part-00000.csv"
    path.write_bytes(content)
    (sent, size), messages = _send_file(path, None)
    assert sent == size == len(content)
    assert all(m["type"] == "http.response.body" for m in messages)
    assert [len(m["body"]) for m in messages] == [FALLBACK_CHUNK, FALLBACK_CHUNK, 12345]
    assert [m["more_body"] for m in messages] == [True, True, False]
    assert b"".join(m["body"] for m in messages) == content


def test_cut_short_leaves_the_response_open(tmp_path: Path) -> None:
    content = os.urandom(FALLBACK_CHUNK + 500)
    path = tmp_path / "part-00001.csv"
    path.write_bytes(content)
    (sent, size), messages = _send_file(path, FALLBACK_CHUNK + 10)
    assert (sent, size) == (FALLBACK_CHUNK + 10, len(content))
    assert b"".join(m["body"] for m in messages) == content[: FALLBACK_CHUNK + 10]
    assert all(m["more_body"] for m in messages)


def test_empty_file_completes_the_response(tmp_path: Path) -> None:
    path = tmp_path / "part-00002.csv"
    path.write_bytes(b"")
    (sent, size), messages = _send_file(path, None)
    assert (sent, size) == (0, 0)
    assert messages == [{"type": "http.response.body", "body": b"", "more_body": False}]
