"""When lake files reach the disk: the fsync policy of a local lake.

A process killed with SIGKILL loses nothing that was written: the data sits in the page
cache and the kernel writes it out. Only a power cut or a kernel crash can lose it, so
an fsync per file buys nothing against crashes and costs a disk flush per file. What
matters is the order: nothing may record a file (the export state, the warehouse, a
Dagster event) before the file is on disk.

- ``batched`` (default): message files are fsynced on a background thread as they land;
  ``Lake.sync()`` waits for them and fsyncs their folders once. A state write calls it
  first, so a state record never outlives the files written before it.
- ``each``: every file is fsynced before its rename and its folder after it, inside the
  write: even after a power cut no final name holds a partial file.
- ``off``: no fsync at all (scratch lakes, tests, file systems that do not need it).
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import get_args

from nudge_pipeline.settings import FsyncPolicy, default_of, env_names, load_settings, read_settings

FSYNC_POLICIES: tuple[str, ...] = get_args(FsyncPolicy)
(FSYNC_ENV,) = env_names("lake_fsync")
DEFAULT_FSYNC: FsyncPolicy = default_of("lake_fsync")


def fsync_policy(value: str | None) -> FsyncPolicy:
    """The policy asked for, else ``$NUDGE_LAKE_FSYNC``, else ``batched``.

    A bad value raises SettingsError (a ValueError) naming NUDGE_LAKE_FSYNC.
    """
    if value and value.strip():
        return load_settings({FSYNC_ENV: value}).lake_fsync
    return read_settings("lake_fsync").lake_fsync


def fsync_path(path: str, *, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_if_present(path: str, *, directory: bool = False) -> None:
    # A file deleted or replaced since it landed has nothing left to make durable (its
    # replacement has its own entry).
    with contextlib.suppress(FileNotFoundError):
        fsync_path(path, directory=directory)


class DeferredFsync:
    """fsyncs published files on one background thread; ``wait`` is the barrier.

    The thread overlaps the disk flushes with the conversion of the next files. It is
    started on first use and, like every ThreadPoolExecutor worker, finishes its queue
    before the interpreter exits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._folders: set[str] = set()

    def add(self, path: str, folder: str) -> None:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="lake-fsync")
            self._pending.append(self._executor.submit(_fsync_if_present, path))
            self._folders.add(folder)

    def wait(self) -> None:
        """Return once every file added so far and its folder are on disk.

        Raises the first fsync failure (an I/O error means the data may not be durable).
        """
        with self._lock:
            pending, self._pending = self._pending, []
            folders, self._folders = self._folders, set()
        errors = [exc for future in pending if (exc := future.exception()) is not None]
        for folder in sorted(folders):
            _fsync_if_present(folder, directory=True)
        if errors:
            raise errors[0]
