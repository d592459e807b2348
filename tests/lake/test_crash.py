"""A writer killed with SIGKILL mid-file never leaves anything under a final name."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from nudge_pipeline.lake import Lake, list_message_files, sweep_orphans, write_message_file
from nudge_pipeline.lake.store import is_temp_name
from tests.fixtures.waiting import wait_until

from .conftest import csv_bytes

CHILD = r"""
import sys, threading
import nudge_pipeline.lake.messages as messages
from nudge_pipeline.lake import Lake, write_message_file

messages.ROW_GROUP_ROWS = 500  # flush often, so the temp file grows before the stall
flush = messages._flush


def flush_and_tell(writer, pending):
    flush(writer, pending)
    open(sys.argv[2], "w").close()  # a row group is in the temp file now


messages._flush = flush_and_tell


class StallingExport:
    # Serves rows, then blocks forever: the writer is stuck in the middle of the file.
    def __init__(self):
        self.pending = b"customer_id,message\n"
        self.rows = 0

    def read(self, size=-1):
        while len(self.pending) < size:
            if self.rows >= 60000:
                threading.Event().wait()
            self.pending += b"".join(
                b'%08d,"new message %d, with ""quotes""\nand a line"\n' % (i, i)
                for i in range(self.rows, self.rows + 1000)
            )
            self.rows += 1000
        out, self.pending = self.pending[:size], self.pending[size:]
        return out


write_message_file(Lake(sys.argv[1]), "camp", "run", 0, StallingExport(), "new-job")
raise SystemExit("the export was supposed to stall")
"""


def _temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and is_temp_name(p.name)]


def _kill_mid_write(root: Path, flushed: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(flushed)], env=env)

    def flushed_while_running() -> bool:
        assert child.poll() is None, "writer exited before it was killed"
        return flushed.exists()

    try:
        wait_until(flushed_while_running, timeout=30, message="the writer to get going")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize("had_old_version", [True, False])
def test_sigkill_mid_write_leaves_old_file_or_nothing(tmp_path: Path, had_old_version: bool):
    root = tmp_path / "lake"
    lake = Lake(root)
    final = lake.local_path("messages/camp/run/part-0.parquet")
    old_digest = None
    if had_old_version:
        old = csv_bytes([["0001", "old message"], ["0002", "old two"]])
        write_message_file(lake, "camp", "run", 0, io.BytesIO(old), "old-job")
        old_digest = hashlib.sha256(final.read_bytes()).hexdigest()

    _kill_mid_write(root, tmp_path / "flushed")

    if had_old_version:
        assert hashlib.sha256(final.read_bytes()).hexdigest() == old_digest
    else:
        assert not final.exists()
    orphans = _temps(root)
    assert len(orphans) == 1 and orphans[0].parent == final.parent
    assert orphans[0].stat().st_size > 1024  # killed in the middle, not before the start

    # Readers globbing the lake see only complete files.
    expected = [("old-job", 2)] if had_old_version else []
    assert [(n, f"{root}/{rel}") for n, rel in list_message_files(lake, "camp", "run")] == (
        [(0, str(final))] if had_old_version else []
    )
    if had_old_version:
        got = duckdb.sql(
            f"SELECT export_job_id, count(*) FROM read_parquet('{root}/messages/*/*/*.parquet', "
            "hive_partitioning=true) GROUP BY ALL"
        ).fetchall()
        assert got == expected

    # Fresh temps are left to their (possibly live) writers; old ones are swept.
    assert sweep_orphans(lake) == []
    removed = sweep_orphans(lake, older_than_seconds=0)
    assert removed == [orphans[0].relative_to(root).as_posix()]
    assert _temps(root) == []
