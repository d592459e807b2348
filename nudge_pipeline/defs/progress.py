"""In-process progress hook: `sync` listens while it executes runs in its own process.

Under the daemon or the webserver nobody listens and the calls do nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]

_lock = threading.Lock()
_listener: Listener | None = None


def set_listener(listener: Listener | None) -> None:
    global _listener
    with _lock:
        _listener = listener


def emit(event: str, **data: Any) -> None:
    listener = _listener
    if listener is not None:
        # A display problem must never fail a load.
        with contextlib.suppress(Exception):
            listener(event, data)
