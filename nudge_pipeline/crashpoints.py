"""Crash drills: ``NUDGE_CRASH_AT=<step>[:<n>]`` makes the process SIGKILL itself.

The process dies at the n-th time (default: the first) it reaches the named step, with no
cleanup, as a power cut or the OOM killer would stop it. The drills then run a second sync
and check that nothing was lost, duplicated or published twice. Unset (always, outside the
drills), ``reached`` costs one environment lookup.
"""

from __future__ import annotations

import functools
import os
import signal
import threading

ENV_VAR = "NUDGE_CRASH_AT"

AFTER_PUBLISH = "after_publish"  # publish accepted, before its job_id is stored
POLLING = "polling"  # an answer of messages/pages received while waiting for the export
MID_DOWNLOAD = "mid_download"  # some bytes of an export file received
MID_PARQUET_WRITE = "mid_parquet_write"  # rows written to a message file's temporary file
MID_WAREHOUSE_LOAD = "mid_warehouse_load"  # rows inserted, transaction still open
BETWEEN_LAKE_AND_WAREHOUSE = "between_lake_and_warehouse"  # files landed, nothing loaded

STEPS = (
    AFTER_PUBLISH,
    POLLING,
    MID_DOWNLOAD,
    MID_PARQUET_WRITE,
    MID_WAREHOUSE_LOAD,
    BETWEEN_LAKE_AND_WAREHOUSE,
)


@functools.lru_cache(maxsize=4)
def parse(value: str) -> tuple[str, int]:
    """``"step"`` or ``"step:n"`` → (step, n)."""
    step, _, count = value.strip().partition(":")
    if step not in STEPS:
        raise ValueError(f"{ENV_VAR}: unknown step {step!r}; steps are {', '.join(STEPS)}")
    if count and (not count.isdigit() or int(count) < 1):
        raise ValueError(f"{ENV_VAR}: the count after ':' must be a positive integer")
    return step, int(count or 1)


_lock = threading.Lock()
_hits = 0


def reached(step: str) -> None:
    """Mark that the process is at ``step``; dies here when the drill asks for it."""
    value = os.environ.get(ENV_VAR)
    if not value:
        return
    target, count = parse(value)
    if target != step:
        return
    global _hits
    with _lock:
        _hits += 1
        due = _hits == count
    if due:
        os.kill(os.getpid(), signal.SIGKILL)
