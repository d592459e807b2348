"""Reproducible draws from the seed: which requests, export jobs and files meet a fault.

A draw is a pure function of the seed and what it is about, so the same calls against the
same seed meet the same faults, whatever else runs in between.
"""

from __future__ import annotations

import hashlib

from nudge_pipeline.simulator.config import SimConfig


def draw(seed: int, *about: object) -> float:
    """A number in [0, 1) fixed by the seed and ``about``."""
    text = "|".join(str(part) for part in (seed, *about))
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def export_job_fails(config: SimConfig, run_id: str, job_id: str) -> bool:
    if run_id in config.failing_export_runs:
        return True
    return config.export_failure_rate > 0 and (
        draw(config.seed, "export-failure", job_id) < config.export_failure_rate
    )


def file_is_unparseable(config: SimConfig, run_id: str, file_num: int) -> bool:
    """Unparseable files stay so: every fetch of one answers "Failed to parse."."""
    named = config.unparseable_files
    if run_id in named or f"{run_id}/{file_num}" in named:
        return True
    return config.unparseable_file_rate > 0 and (
        draw(config.seed, "unparseable", run_id, file_num) < config.unparseable_file_rate
    )
