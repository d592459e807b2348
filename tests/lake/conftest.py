from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from nudge_pipeline.lake import Lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def csv_bytes(
    rows: list[list[str]],
    header: list[str] | None = None,
    *,
    line_end: str = "\n",
    bom: bool = False,
) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow(header or ["customer_id", "message"])
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


class ChunkedStream:
    """A stream returning at most ``chunk`` bytes per read, like a network body."""

    def __init__(self, data: bytes, chunk: int = 7) -> None:
        self._data = memoryview(data)
        self._chunk = chunk
        self.reads = 0

    def read(self, size: int = -1, /) -> bytes:
        self.reads += 1
        n = self._chunk if size is None or size < 0 else min(size, self._chunk)
        out, self._data = self._data[:n].tobytes(), self._data[n:]
        return out


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
