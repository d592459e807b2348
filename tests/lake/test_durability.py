"""The fsync policy: which files reach the disk, when, and before what.

The real ``os.fsync`` runs; a spy records what each call flushed (the path behind the
descriptor) and on which thread, so the order against the state write can be checked.
"""

from __future__ import annotations

import errno
import io
import os
import threading
from pathlib import Path

import pytest

from nudge_pipeline.lake import ExportStateStore, Lake, write_message_file
from nudge_pipeline.lake.durability import FSYNC_ENV, fsync_policy

from .conftest import csv_bytes

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")

Flush = tuple[str, str]  # (path flushed, thread name)


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> list[Flush]:
    log: list[Flush] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        log.append((os.readlink(f"/proc/self/fd/{fd}"), threading.current_thread().name))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return log


def _land(lake: Lake, file_num: int) -> Path:
    data = csv_bytes([[f"{file_num:05d}", "hello"]])
    stats = write_message_file(lake, "c", "r", file_num, io.BytesIO(data), "job")
    path = lake.local_path(stats.lake_path)
    assert path is not None
    return path


def _paths(log: list[Flush]) -> list[str]:
    return [path for path, _ in log]


def test_batched_files_are_flushed_in_the_background_before_the_state_records_them(
    tmp_path: Path, flushes: list[Flush]
) -> None:
    lake = Lake(tmp_path / "lake", fsync="batched")
    files = [_land(lake, n) for n in range(3)]
    ExportStateStore(lake).put("c", "r", {"job_id": "job", "num_files": 3})

    paths = _paths(flushes)
    state_temp = next(i for i, p in enumerate(paths) if ".run_id=r.json.tmp-" in p)
    before_state = paths[:state_temp]
    assert sorted(before_state) == sorted([str(f) for f in files] + [str(files[0].parent)])
    file_threads = {thread for path, thread in flushes if path.endswith(".parquet")}
    assert file_threads and all(t.startswith("lake-fsync") for t in file_threads)
    # The state file itself is flushed in the write, with its folder, before it returns.
    assert paths[state_temp + 1 :] == [paths[state_temp].rsplit("/", 1)[0]]


def test_each_flushes_the_temporary_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, flushes: list[Flush]
) -> None:
    lake = Lake(tmp_path / "lake", fsync="each")
    final = _land(lake, 0)
    (temp, temp_thread), (folder, folder_thread) = flushes
    assert Path(temp).parent == final.parent and f".{final.name}.tmp-" in temp
    assert folder == str(final.parent)
    assert temp_thread == folder_thread == threading.current_thread().name
    lake.sync()
    assert len(flushes) == 2


def test_off_never_flushes(tmp_path: Path, flushes: list[Flush]) -> None:
    lake = Lake(tmp_path / "lake", fsync="off")
    _land(lake, 0)
    ExportStateStore(lake).put("c", "r", {"job_id": "job"})
    lake.sync()
    assert flushes == []


def test_a_failed_flush_stops_the_state_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake", fsync="batched")
    real_fsync = os.fsync

    def failing(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".parquet"):
            raise OSError(errno.EIO, "disk on fire")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing)
    _land(lake, 0)  # the write itself does not wait for the disk
    with pytest.raises(OSError, match="disk on fire"):
        ExportStateStore(lake).put("c", "r", {"job_id": "job"})
    assert ExportStateStore(lake).get("c", "r") is None
    lake.sync()  # the failure was reported once; nothing is pending any more


def test_policy_comes_from_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(FSYNC_ENV, raising=False)
    assert fsync_policy(None) == "batched"
    monkeypatch.setenv(FSYNC_ENV, "Each")
    assert fsync_policy(None) == "each"
    assert fsync_policy("off") == "off"
    monkeypatch.setenv(FSYNC_ENV, "sometimes")
    with pytest.raises(ValueError, match="batched, each, off"):
        fsync_policy(None)
