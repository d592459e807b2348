"""The fsync policy: which files reach the disk, when, and before what.

The real ``os.fsync`` runs; a spy sees the path behind each descriptor it flushes, so what
was flushed, and in which order against the writes and the run record's write, can be checked.
"""

from __future__ import annotations

import errno
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from nudge_pipeline.lake import Lake, message_file_path, write_message_file
from nudge_pipeline.lake.durability import FSYNC_ENV, fsync_policy
from nudge_pipeline.landing.record import RunRecord, RunRecordStore, RunState

from .conftest import csv_bytes

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


def _spy_on_fsync(monkeypatch: pytest.MonkeyPatch, before: Callable[[str], None]) -> None:
    """Call `before(path)` ahead of every real fsync."""
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        before(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    log: list[str] = []
    _spy_on_fsync(monkeypatch, log.append)
    return log


def _land(lake: Lake, file_num: int) -> Path:
    data = csv_bytes([[f"{file_num:05d}", "hello"]])
    stats = write_message_file(lake, "c", "r", file_num, io.BytesIO(data), "job")
    path = lake.local_path(stats.lake_path)
    assert path is not None
    return path


def test_batched_files_are_flushed_in_the_background_before_the_run_record_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_released = threading.Event()
    flushed: list[str] = []

    def slow_disk(path: str) -> None:
        # Message files reach the disk only once the test says so: a write that waited
        # for its own fsync would hang here and fail.
        if path.endswith(".parquet"):
            assert disk_released.wait(timeout=30), "a write waited for its own fsync"
        flushed.append(path)

    _spy_on_fsync(monkeypatch, slow_disk)
    lake = Lake(tmp_path / "lake", fsync="batched")
    try:
        files = [_land(lake, n) for n in range(3)]
        assert flushed == []  # three files landed while none of them could reach the disk
    finally:
        disk_released.set()
    RunRecordStore(lake).put(RunRecord("c", "r", RunState.FILES_LANDED, job_id="job", num_files=3))

    state_temp = next(i for i, p in enumerate(flushed) if ".run_id=r.json.tmp-" in p)
    before_state = flushed[:state_temp]
    assert sorted(before_state) == sorted([str(f) for f in files] + [str(files[0].parent)])
    # The record itself is flushed in the write, with its folder, before it returns.
    assert flushed[state_temp + 1 :] == [flushed[state_temp].rsplit("/", 1)[0]]


def test_each_flushes_the_temporary_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake", fsync="each")
    final = lake.local_path(message_file_path("c", "r", 0))
    assert final is not None
    write_returned = threading.Event()
    # (path flushed, final name present yet, write returned yet) at each fsync.
    seen: list[tuple[str, bool, bool]] = []
    _spy_on_fsync(
        monkeypatch, lambda path: seen.append((path, final.exists(), write_returned.is_set()))
    )
    assert _land(lake, 0) == final
    write_returned.set()

    (temp, renamed_before_temp, _), (folder, renamed_before_folder, _) = seen
    assert Path(temp).parent == final.parent and f".{final.name}.tmp-" in temp
    assert not renamed_before_temp and renamed_before_folder
    assert folder == str(final.parent)
    # Both inside the write, none left for later.
    assert not any(returned for _, _, returned in seen)
    lake.sync()
    assert len(seen) == 2


def test_off_never_flushes(tmp_path: Path, flushes: list[str]) -> None:
    lake = Lake(tmp_path / "lake", fsync="off")
    _land(lake, 0)
    RunRecordStore(lake).put(RunRecord("c", "r", job_id="job"))
    lake.sync()
    assert flushes == []


def test_a_failed_flush_stops_the_run_record_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake", fsync="batched")

    def failing(path: str) -> None:
        if path.endswith(".parquet"):
            raise OSError(errno.EIO, "disk on fire")

    _spy_on_fsync(monkeypatch, failing)
    _land(lake, 0)  # the write itself does not wait for the disk
    with pytest.raises(OSError, match="disk on fire"):
        RunRecordStore(lake).put(RunRecord("c", "r", job_id="job"))
    assert RunRecordStore(lake).get("c", "r") is None
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
