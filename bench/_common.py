"""Shared helpers for the benchmarks: timing, peak RSS, and reproducible export CSVs."""

from __future__ import annotations

import csv
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_TEXT = (
    "hello there your order ships today thanks for being with us since "
    "we miss you come back for a special offer on shoes bags "
    "coats and more see what is new this week"
)
_WORDS = _TEXT.split()
_QUIRKS = [
    'She said "hi", then left.',
    "Line one\nline two",
    "Windows\r\nline break",
    "emoji 😀🎉 and ünïcödé",
    "NA",
    "null",
    "None",
    "",
    "comma, separated, text",
    '""quoted""',
]


def _message(rng: random.Random) -> str:
    target = rng.randint(200, 400)
    words: list[str] = []
    size = 0
    while size < target:
        word = rng.choice(_QUIRKS) if rng.random() < 0.04 else rng.choice(_WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:target]


def write_export_csvs(
    directory: Path, files: int, rows_per_file: int, *, seed: int = 7, bom_every: int = 10
) -> list[Path]:
    """Write export-like CSVs (leading-zero ids, quirky 200-400 char messages); reuse if present."""
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / "_spec.json"
    spec = {"files": files, "rows": rows_per_file, "seed": seed, "v": 2}
    paths = [directory / f"export-{i:04d}.csv" for i in range(files)]
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return paths
    rng = random.Random(seed)
    pool = [_message(rng) for _ in range(5000)] + _QUIRKS
    for num, path in enumerate(paths):
        with path.open("w", encoding="utf-8", newline="") as out:
            if bom_every and num % bom_every == 0:
                out.write("\ufeff")
            writer = csv.writer(out, lineterminator="\r\n" if num % 2 else "\n")
            writer.writerow(["customer_id", "message"])
            base = num * rows_per_file
            for row in range(rows_per_file):
                customer = f"{base + row:010d}"
                # Personalised, so every message is unique, as in real exports.
                text = f"Hi customer {customer}, {rng.choice(pool)}"
                writer.writerow([customer, text[: rng.randint(200, 400)]])
    marker.write_text(json.dumps(spec))
    return paths


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed_with_cpu(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) spent in ``fn``."""
    start, cpu_start = time.perf_counter(), _process_cpu()
    fn()
    return time.perf_counter() - start, _process_cpu() - cpu_start


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def median(values: list[float]) -> float:
    return statistics.median(values)


_HWM_PROBE = """
import resource
try:
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(kib)
"""


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_peak_rss_mb(code: str) -> float:
    """Run ``code`` in a fresh interpreter and return its peak RSS in MiB.

    The code must print nothing. The child reads its own VmHWM: ``ru_maxrss`` would be
    wrong here, as Linux carries the forking parent's peak over ``exec``.
    """
    probe = f"{code}\n{_HWM_PROBE}"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return int(out.strip().splitlines()[-1]) / 1024
