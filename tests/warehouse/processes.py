"""Start workers.py in a subprocess from the repository root."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from nudge_pipeline.warehouse import MessageFileLoad

REPO_ROOT = Path(__file__).resolve().parents[2]


def loads_json(loads: Sequence[MessageFileLoad]) -> str:
    items = []
    for load in loads:
        item = dataclasses.asdict(load)
        item["fetched_at"] = None
        items.append(item)
    return json.dumps(items)


def start_worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.warehouse.workers", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def expect_line(process: subprocess.Popen[str], expected: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != expected:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"worker said {line!r}, not {expected!r}; stderr:\n{stderr}")
