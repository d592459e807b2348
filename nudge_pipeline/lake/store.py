"""The lake root: a local folder or an object store, reached through pyarrow.fs.

Every file becomes visible under its final name in one step, complete:

- local: written to a temporary name in the same folder, then ``os.replace``d (when it
  is fsynced: see ``durability``);
- object store: written to a temporary key, then copied server-side to the final key.
  Writing the final key directly is not safe with pyarrow: its S3 stream has no abort,
  and closing it (even from a destructor after an error) completes the upload, which
  would publish a truncated object. A copy creates the final object in one step.

Temporary names look like ``.part-3.parquet.tmp-<hex>``: hidden, and not matched by
``*.parquet`` globs, so DuckDB, pyarrow datasets and Spark never read them. A writer
killed with SIGKILL can leave one behind; ``sweep_orphans`` deletes old ones.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from nudge_pipeline.settings import read_settings

from .durability import DeferredFsync, FsyncPolicy, fsync_path, fsync_policy

_TEMP_NAME = re.compile(r"\..+\.tmp-[0-9a-f]{32}")
DEFAULT_ORPHAN_AGE_SECONDS = 3600.0


def s3_endpoint_and_region() -> tuple[str | None, str | None]:
    """The S3 endpoint URL (with a scheme) and region from the standard AWS variables."""
    settings = read_settings("s3_region", "s3_endpoint")
    endpoint = settings.s3_endpoint
    if endpoint and "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    return endpoint or None, settings.s3_region or None


def _s3_from_env() -> pafs.S3FileSystem:
    options: dict[str, object] = {}
    endpoint, region = s3_endpoint_and_region()
    if region:
        options["region"] = region
    if endpoint:
        parts = urlsplit(endpoint)
        options["endpoint_override"] = parts.netloc
        options["scheme"] = parts.scheme
    # Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID, ... or a profile).
    return pafs.S3FileSystem(**options)


class Lake:
    """A lake root. Paths given to its methods are relative, with ``/`` separators."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        filesystem: pafs.FileSystem | None = None,
        fsync: FsyncPolicy | None = None,
    ) -> None:
        text = os.fspath(root)
        # Applies to local lakes; an object store makes a completed upload durable itself.
        self.fsync = fsync_policy(fsync)
        self._deferred = DeferredFsync()
        if filesystem is not None:
            self.fs = filesystem
            self.base = text.rstrip("/")
            self._display_root = text.rstrip("/")
        elif text.startswith("s3://"):
            self.fs = _s3_from_env()
            self.base = text[len("s3://") :].strip("/")
            if not self.base:
                raise ValueError("an s3:// lake root needs a bucket")
            self._display_root = f"s3://{self.base}"
        elif "://" in text and not text.startswith("file://"):
            raise ValueError(f"unsupported lake root scheme: {text.split('://', 1)[0]}")
        else:
            local = Path(text.removeprefix("file://")).resolve()
            self.fs = pafs.LocalFileSystem()
            self.base = local.as_posix()
            self._display_root = self.base
        self.is_local = isinstance(self.fs, pafs.LocalFileSystem)

    def __repr__(self) -> str:
        return f"Lake({self._display_root!r})"

    @property
    def root(self) -> str:
        return self._display_root

    # ---- addressing -------------------------------------------------------------

    def fs_path(self, rel: str) -> str:
        """Path of ``rel`` inside ``self.fs``. Rejects anything that could leave the root."""
        parts = rel.split("/")
        if rel.startswith("/") or any(p in ("", ".", "..") or "\\" in p for p in parts):
            raise ValueError(f"not a clean lake-relative path: {rel!r}")
        if "\x00" in rel:
            raise ValueError("lake paths cannot hold NUL")
        return f"{self.base}/{rel}" if self.base else rel

    def uri(self, rel: str) -> str:
        """Full address of ``rel``: an absolute local path or ``s3://bucket/key``."""
        self.fs_path(rel)
        return f"{self._display_root}/{rel}"

    def local_path(self, rel: str) -> Path | None:
        """Local file path of ``rel`` (for DuckDB ``read_parquet``), or None if remote."""
        return Path(self.fs_path(rel)) if self.is_local else None

    # ---- reading ----------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self.fs_path(rel)).type == pafs.FileType.File

    def read_bytes(self, rel: str) -> bytes | None:
        try:
            with self.fs.open_input_stream(self.fs_path(rel)) as src:
                return bytes(src.read())
        except (FileNotFoundError, NotADirectoryError):  # under a file: cannot exist either
            return None

    def parquet_file(self, rel: str) -> pq.ParquetFile:
        return pq.ParquetFile(self.fs.open_input_file(self.fs_path(rel)))

    def list_files(self, rel_dir: str) -> list[str]:
        """Final (non-temporary) files directly under ``rel_dir``, as sorted relative paths."""
        selector = pafs.FileSelector(self.fs_path(rel_dir), allow_not_found=True)
        names = [
            info.base_name
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File and not is_temp_name(info.base_name)
        ]
        return sorted(f"{rel_dir}/{name}" for name in names)

    def list_dirs(self, rel_dir: str) -> list[str]:
        """Folders directly under ``rel_dir`` (``""`` for the root), as sorted relative paths."""
        top = self.fs_path(rel_dir) if rel_dir else self.base
        selector = pafs.FileSelector(top, allow_not_found=True)
        names = [
            i.base_name
            for i in self.fs.get_file_info(selector)
            if i.type == pafs.FileType.Directory
        ]
        return sorted(f"{rel_dir}/{name}" if rel_dir else name for name in names)

    def delete(self, rel: str) -> bool:
        try:
            self.fs.delete_file(self.fs_path(rel))
        except FileNotFoundError:
            return False
        return True

    def delete_dir(self, rel: str) -> None:
        """Delete a folder and everything under it (nothing when it is absent)."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_dir(self.fs_path(rel))

    def move(self, rel: str, new_rel: str) -> None:
        """Rename a complete file: one rename locally, a server-side copy on object stores."""
        source, target = self.fs_path(rel), self.fs_path(new_rel)
        if not self.is_local:
            self.fs.move(source, target)
            return
        parent = target.rpartition("/")[0]
        os.makedirs(parent, exist_ok=True)
        os.replace(source, target)
        if self.fsync != "off":
            fsync_path(parent, directory=True)

    # ---- atomic writing ---------------------------------------------------------

    @contextlib.contextmanager
    def atomic_output(self, rel: str, *, batched: bool = False) -> Iterator[pa.NativeFile]:
        """Yield a stream whose content appears under ``rel`` only if the block succeeds.

        Under the ``batched`` fsync policy, ``batched=True`` leaves the fsync to the
        background and ``sync()``; other writes are on disk when the block exits.
        """
        final = self.fs_path(rel)
        parent, _, name = final.rpartition("/")
        temp = f"{parent}/.{name}.tmp-{uuid.uuid4().hex}"
        published = False
        try:
            if self.is_local:
                os.makedirs(parent, exist_ok=True)
            sink = self.fs.open_output_stream(temp)
            try:
                yield sink
            finally:
                sink.close()
            self._publish(temp, final, parent, batched)
            published = True
        finally:
            if not published:
                with contextlib.suppress(OSError):
                    self.fs.delete_file(temp)

    def _publish(self, temp: str, final: str, parent: str, batched: bool) -> None:
        if not self.is_local:
            self.fs.move(temp, final)
            return
        if self.fsync == "off":
            os.replace(temp, final)
        elif batched and self.fsync == "batched":
            os.replace(temp, final)
            self._deferred.add(final, parent)
        else:
            fsync_path(temp)
            os.replace(temp, final)
            fsync_path(parent, directory=True)

    def sync(self) -> None:
        """Wait until every file written through this Lake is on disk (see ``durability``).

        Call it before anything records the files; a state write (``write_bytes``) does.
        """
        self._deferred.wait()

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a small file atomically, after every file written before it is durable."""
        self.sync()
        if self.is_local:
            with self.atomic_output(rel) as sink:
                sink.write(data)
            return
        # One buffered write then close is a single PUT: atomic on object stores.
        with self.fs.open_output_stream(self.fs_path(rel)) as sink:
            sink.write(data)

    def sweep_orphans(
        self, older_than_seconds: float = DEFAULT_ORPHAN_AGE_SECONDS, under: str = ""
    ) -> list[str]:
        """Delete temporary files left by killed writers; returns their relative paths.

        Only temps older than ``older_than_seconds`` go, so live writers are left alone.
        ``under`` limits the sweep to one folder (relative to the root).
        """
        top = self.fs_path(under) if under else self.base
        selector = pafs.FileSelector(top, recursive=True, allow_not_found=True)
        cutoff = time.time() - older_than_seconds
        removed: list[str] = []
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File or not is_temp_name(info.base_name):
                continue
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            if mtime > cutoff:
                continue
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_file(info.path)
                removed.append(info.path[len(self.base) :].lstrip("/"))
        return sorted(removed)


def sweep_temps_of(lake: Lake, rel: str) -> list[str]:
    """Delete the temporary files of one file, whatever their age: for a caller that knows
    their writer is dead (it took over the dead writer's claim)."""
    parent, _, name = rel.rpartition("/")
    selector = pafs.FileSelector(lake.fs_path(parent), allow_not_found=True)
    removed = []
    for info in lake.fs.get_file_info(selector):
        if info.base_name.startswith(f".{name}.tmp-") and is_temp_name(info.base_name):
            with contextlib.suppress(FileNotFoundError):
                lake.fs.delete_file(info.path)
                removed.append(f"{parent}/{info.base_name}")
    return removed


def is_temp_name(file_name: str) -> bool:
    return _TEMP_NAME.fullmatch(file_name) is not None


def sweep_orphans(
    lake: Lake, older_than_seconds: float = DEFAULT_ORPHAN_AGE_SECONDS, under: str = ""
) -> list[str]:
    """Delete temporary files left by killed writers. See ``Lake.sweep_orphans``."""
    return lake.sweep_orphans(older_than_seconds, under)
