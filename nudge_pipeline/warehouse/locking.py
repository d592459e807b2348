"""Cross-process write serialisation for single-writer databases (DuckDB).

DuckDB lets one process at a time open a database file for writing. Writers in this
package take an exclusive `fcntl.flock` on `<database>.lock` for the whole write
transaction, so concurrent loads queue instead of failing. Processes outside this package
(an analyst's DuckDB shell, say) do not know that lock, so opening the database itself is
also retried while DuckDB reports its own file lock as held.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from nudge_pipeline.warehouse.errors import LockTimeoutError

T = TypeVar("T")

_POLL_START = 0.02
_POLL_MAX = 0.5


@contextmanager
def exclusive_file_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if missing); released on exit or death."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = _POLL_START
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"another writer held {path} for more than {timeout:.0f} s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, _POLL_MAX)
        yield
    finally:
        os.close(fd)


def is_duckdb_lock_conflict(exc: BaseException) -> bool:
    """True when DuckDB refused to open a file because another process holds it."""
    text = str(exc)
    return "Could not set lock on file" in text or "Conflicting lock is held" in text


def retry_on_lock_conflict(
    action: Callable[[], T], timeout: float, is_conflict: Callable[[BaseException], bool]
) -> T:
    """Run `action`, retrying with backoff while `is_conflict` says the file is busy."""
    deadline = time.monotonic() + timeout
    delay = _POLL_START
    while True:
        try:
            return action()
        except Exception as exc:
            if not is_conflict(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, _POLL_MAX)
