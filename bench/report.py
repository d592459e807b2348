"""What every benchmark scenario returns: a markdown table, its targets, and JSON."""

from __future__ import annotations

import contextlib
import json
import platform
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness import Measured


@dataclass
class Target:
    name: str
    measured: str
    goal: str
    met: bool


@dataclass
class Report:
    scenario: str
    rows: list[tuple[str, ...]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def target(self, name: str, value: float, goal: str, met: bool, fmt: str = "{:.2f}") -> None:
        self.targets.append(Target(name, fmt.format(value), goal, met))

    def print(self) -> None:
        print(f"\n### {self.scenario}\n")
        if self.rows:
            header, *body = self.rows
            print("| " + " | ".join(header) + " |")
            print("|" + "---|" * len(header))
            for row in body:
                print("| " + " | ".join(row) + " |")
        if self.targets:
            print("\n| target | measured | goal | |")
            print("|---|---|---|---|")
            for t in self.targets:
                print(
                    f"| {t.name} | {t.measured} | {t.goal} | {'met' if t.met else '**MISSED**'} |"
                )
        sys.stdout.flush()

    def save(self, stamp: str) -> Path:
        harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = harness.RESULTS_DIR / f"{self.scenario}-{stamp}.json"
        body = {
            "scenario": self.scenario,
            "when": stamp,
            "machine": machine(),
            "targets": [t.__dict__ for t in self.targets],
            "data": self.data,
        }
        path.write_text(json.dumps(body, indent=2, default=str))
        return path


def machine() -> dict[str, Any]:
    import os

    import psutil

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_avg_at_end": os.getloadavg(),
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_s(values: list[float]) -> str:
    return f"{median(values):.2f} s" + (
        f" ({min(values):.2f}–{max(values):.2f})" if len(values) > 1 else ""
    )


def fmt_mb(values: list[float]) -> str:
    return f"{max(values):.0f} MB"


def rows_per_s(rows: int, seconds: list[float]) -> str:
    return f"{rows / median(seconds):,.0f}"


def paired_ratio(top: list[Measured], bottom: list[Measured]) -> float:
    return median([a.seconds / b.seconds for a, b in zip(top, bottom, strict=True)])
