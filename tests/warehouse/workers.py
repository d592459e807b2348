"""Subprocess entry points for the crash and multi-process tests.

python -m tests.warehouse.workers load URL LOADS_JSON CAMPAIGN RUN REPEAT
python -m tests.warehouse.workers crash URL STAGE LOADS_JSON CAMPAIGN RUN [FS_ROOT]
python -m tests.warehouse.workers hold-duckdb PATH SECONDS
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pyarrow.fs as pafs

from nudge_pipeline.warehouse import MessageFileLoad, Warehouse
from nudge_pipeline.warehouse.loaders import base


def _loads(text: str) -> list[MessageFileLoad]:
    return [MessageFileLoad(**item) for item in json.loads(text)]


def _block(marker: str) -> None:
    print(marker, flush=True)
    time.sleep(3600)


def load(url: str, loads: str, campaign: str, run: str, repeat: str) -> None:
    with Warehouse(url) as wh:
        for _ in range(int(repeat)):
            wh.replace_messages(campaign, run, _loads(loads))
    print("DONE", flush=True)


def crash(url: str, stage: str, loads: str, campaign: str, run: str, fs_root: str = "") -> None:
    """Start a replace and stop dead at `stage`, inside its transaction, for a SIGKILL."""
    wh = Warehouse(url)
    if stage == "mid-load":
        original = base.iter_message_batches

        def stalling(*args: Any) -> Iterator[Any]:
            for number, batch in enumerate(original(*args)):
                if number == 2:
                    _block("BLOCKED")
                yield batch

        base.iter_message_batches = stalling  # type: ignore[assignment]
    elif stage == "after-insert":
        loader = type(wh._loader)
        insert = loader.insert_message_files

        def insert_then_stall(self: Any, *args: Any) -> dict[int, int]:
            counts = insert(self, *args)
            _block("BLOCKED")
            return counts

        loader.insert_message_files = insert_then_stall  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown stage {stage}")
    filesystem = pafs.SubTreeFileSystem(fs_root, pafs.LocalFileSystem()) if fs_root else None
    wh.replace_messages(campaign, run, _loads(loads), filesystem=filesystem)
    print("COMMITTED", flush=True)


def hold_duckdb(path: str, seconds: str) -> None:
    """Keep a DuckDB file open read-write, as an analyst's shell would."""
    import duckdb

    connection = duckdb.connect(path)
    print("READY", flush=True)
    time.sleep(float(seconds))
    connection.close()


if __name__ == "__main__":
    commands = {"load": load, "crash": crash, "hold-duckdb": hold_duckdb}
    commands[sys.argv[1]](*sys.argv[2:])
