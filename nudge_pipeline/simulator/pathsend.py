"""The ASGI ``http.response.pathsend`` extension, served with zero-copy ``sendfile``.

Export files are the simulator's bulk traffic. Starlette's FileResponse sends
``{"type": "http.response.pathsend", "path": ...}`` when the server offers the extension;
uvicorn does not, so SimMiddleware offers it and answers with ``loop.sendfile`` straight
on uvicorn's transport: the kernel moves the page-cache pages to the socket and no byte of
the body passes through Python. Where that is not possible (a loop without native sendfile,
another ASGI server) the file goes out as ordinary 1 MiB body messages.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from starlette.types import Message, Scope, Send

PATHSEND = "http.response.pathsend"
FALLBACK_CHUNK = 1024 * 1024


class ClientGone(Exception):
    """The connection broke while a file was being sent."""


def offer_pathsend(scope: Scope) -> Scope:
    extensions = dict(scope.get("extensions") or {})
    extensions[PATHSEND] = {}
    return {**scope, "extensions": extensions}


def _uvicorn_cycle(raw_send: Send) -> Any:
    """uvicorn's httptools request cycle behind its ``send``, or None for anything else."""
    cycle = getattr(raw_send, "__self__", None)
    if hasattr(cycle, "transport") and hasattr(cycle, "expected_content_length"):
        return cycle
    return None


async def _sendfile(raw_send: Send, handle: Any, count: int) -> int | None:
    """Bytes sent zero-copy, or None when this server or loop cannot do it."""
    cycle = _uvicorn_cycle(raw_send)
    if cycle is None or cycle.transport.is_closing():
        return None
    try:
        sent: int = await asyncio.get_running_loop().sendfile(
            cycle.transport, handle, 0, count, fallback=False
        )
    except (NotImplementedError, RuntimeError):
        return None  # uvloop has no sendfile; the file position is untouched then
    except OSError:
        # The client went away mid-file (reset, broken pipe): drop the connection quietly,
        # as uvicorn does when a client leaves during an ordinary body.
        cycle.transport.close()
        cycle.disconnected = True
        raise ClientGone() from None
    # uvicorn counts body bytes against Content-Length; these went past its send().
    cycle.expected_content_length -= sent
    return sent


async def send_path(message: Message, raw_send: Send, limit: int | None = None) -> tuple[int, int]:
    """Send the file named by a pathsend message on the server's ``raw_send``, whole or only
    its first ``limit`` bytes.

    Returns (bytes sent, file size). The response is left open when cut short, so the
    caller can drop the connection; otherwise it is completed.
    """
    with open(message["path"], "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        count = size if limit is None else min(limit, size)
        sent = await _sendfile(raw_send, handle, count) if count else 0
        if sent is None:
            sent = 0
            while sent < count:
                chunk = handle.read(min(FALLBACK_CHUNK, count - sent))
                if not chunk:
                    break
                sent += len(chunk)
                more = sent < size
                await raw_send({"type": "http.response.body", "body": chunk, "more_body": more})
            if sent == size:
                return sent, size
        if sent == size:
            await raw_send({"type": "http.response.body", "body": b"", "more_body": False})
    return sent, size
