"""Runs started through the API move queued → running → completed with wall-clock time."""

from __future__ import annotations

import time

from nudge_pipeline.simulator.config import SimConfig
from nudge_pipeline.simulator.data import Campaign, Run, now_iso


def advance_run(run: Run, config: SimConfig) -> None:
    if run.started_monotonic is None or run.status == "completed":
        return
    elapsed = time.monotonic() - run.started_monotonic
    if elapsed >= config.rerun_duration:
        run.status = "completed"
        run.started_at = run.started_at or now_iso()
        run.completed_at = now_iso()
        run.message_count = config.messages_per_run
    elif elapsed >= config.rerun_duration / 2 and run.status == "queued":
        run.status = "running"
        run.started_at = now_iso()


def advance_campaign(campaign: Campaign, config: SimConfig) -> None:
    for run in campaign.runs:
        advance_run(run, config)


def latest_completed(campaign: Campaign) -> Run | None:
    done = [r for r in campaign.runs if r.status == "completed"]
    return max(done, key=lambda r: r.run_number) if done else None
