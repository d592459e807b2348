"""Runs the API and storage apps in one process, one event loop, one uvicorn worker each."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from nudge_pipeline.simulator.app import create_api_app, create_storage_app
from nudge_pipeline.simulator.config import SimConfig
from nudge_pipeline.simulator.state import SimState


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """The standard asyncio loop, not uvloop: only the standard loop has a native
    ``loop.sendfile``, which export files go out with (see pathsend.py)."""
    asyncio.run(coro)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Two servers share the loop; signals are handled once, in serve().
        yield


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio only disables Nagle on accepted sockets whose proto is
    # TCP, and without that every small response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app, log_level="warning", access_log=False, proxy_headers=False, lifespan="off", workers=1
    )


def serve(
    config: SimConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    storage_port: int = 0,
    *,
    data_dir: Path | None = None,
    ready_file: Path | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM. Port 0 picks a free port; the chosen ones are reported
    through ready_file (JSON, written atomically) and on_ready."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nudgesim-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        coro = _serve(config, host, port, storage_port, data_dir, ready_file, on_ready)
        _run(coro)


async def _serve(
    config: SimConfig,
    host: str,
    port: int,
    storage_port: int,
    data_dir: Path,
    ready_file: Path | None,
    on_ready: Callable[[dict[str, Any]], None] | None,
) -> None:
    state = SimState(config, data_dir)
    api_sock, storage_sock = _bind(host, port), _bind(host, storage_port)
    state.base_url = f"http://{host}:{api_sock.getsockname()[1]}"
    storage_host = config.storage_public_host or host
    state.storage_base_url = f"http://{storage_host}:{storage_sock.getsockname()[1]}"
    servers = [
        _Server(_uvicorn_config(create_api_app(state))),
        _Server(_uvicorn_config(create_storage_app(state))),
    ]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    tasks = [
        asyncio.create_task(servers[0].serve(sockets=[api_sock])),
        asyncio.create_task(servers[1].serve(sockets=[storage_sock])),
    ]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.01)
    info = state.connection_info()
    if ready_file is not None:
        tmp = ready_file.with_name(ready_file.name + ".tmp")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, ready_file)
    if on_ready is not None:
        on_ready(info)
    await asyncio.gather(*tasks)
