"""What a sync asks of the API: api-cost (calls per endpoint) and latency (against the
vendor's clock)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import harness
from context import ROWS_PER_FILE, Context, require, warehouse_rows
from harness import FETCH, PAGES, PUBLISH
from report import Report

from nudge_pipeline.simulator import SimConfig, SimHandle

PAGES_POLLS_MAX = 10


def api_cost(ctx: Context) -> Report:
    files = 5
    config = harness.single_run_config(files * ROWS_PER_FILE, ROWS_PER_FILE)
    # A vendor-like export: the job takes a few seconds, so polling is exercised.
    config.export_duration = 4.0
    work = ctx.work / "api-cost"
    with harness.simulator(config, work / "sim") as sim:
        # Fresh lake, warehouse and instance: a kept --work-dir must not make the first
        # sync a second one.
        synced = harness.fresh_dir(work / "sync")
        sim.reset_stats()
        harness.run_sync("sync first", sim, synced)
        first = harness.sim_calls(sim)
        sim.reset_stats()
        harness.run_sync("sync second", sim, synced)
        second = harness.sim_calls(sim)
    report = Report("api-cost")
    report.rows = [("endpoint", "first sync (1 run, 5 files)", "second sync (nothing new)")]
    for endpoint in sorted(set(first) | set(second)):
        report.rows.append(
            (f"`{endpoint}`", str(first.get(endpoint, 0)), str(second.get(endpoint, 0)))
        )
    report.target(
        "publish per run", first.get(PUBLISH, 0), "= 1", first.get(PUBLISH, 0) == 1, "{:.0f}"
    )
    report.target(
        "pages polls",
        first.get(PAGES, 0),
        f"≤ {PAGES_POLLS_MAX}",
        first.get(PAGES, 0) <= PAGES_POLLS_MAX,
        "{:.0f}",
    )
    report.target(
        "fetch per file", first.get(FETCH, 0) / files, "= 1", first.get(FETCH, 0) == files
    )
    report.target(
        "publish on second sync",
        second.get(PUBLISH, 0),
        "= 0",
        second.get(PUBLISH, 0) == 0,
        "{:.0f}",
    )
    report.target(
        "fetch on second sync", second.get(FETCH, 0), "= 0", second.get(FETCH, 0) == 0, "{:.0f}"
    )
    report.data = {"first": first, "second": second, "files": files}
    return report


# ---------------------------------------------------------------------------- latency

LATENCY_RUNS = 20
LATENCY_FILES_PER_RUN = 3
LATENCY_ROWS_PER_FILE = 2_000
LATENCY_GENERATION_S = 5.0
LATENCY_SETTLE_S = 10.0
LATENCY_OVER_FLOOR_MAX = 1.3
FIRST_PUBLISH_MAX_S = 2.0
LATENCY_SYNC_TIMEOUT_S = 600.0


def latency_config() -> SimConfig:
    """20 completed runs of 3 files each in one Published campaign; each export takes 5 s
    and `pages` answers without `status`, so the client waits out the settle window."""
    config = harness.many_runs_config(
        LATENCY_RUNS, LATENCY_FILES_PER_RUN * LATENCY_ROWS_PER_FILE, LATENCY_ROWS_PER_FILE
    )
    config.export_duration = LATENCY_GENERATION_S
    config.pages_omit_status = True
    return config


def client_config(sim: SimHandle) -> Any:
    """What a client needs to reach the simulator's account."""
    from nudge_pipeline.nudgescribe.config import ClientConfig

    account = sim.account
    return ClientConfig(
        base_url=sim.base_url,
        api_code=account.api_code,
        api_key=account.api_key,
        api_secret=account.api_secret,
    )


def published_runs(sim: SimHandle) -> list[tuple[str, str]]:
    from nudge_pipeline.nudgescribe.client import NudgescribeClient

    config = client_config(sim)
    with NudgescribeClient(config) as client:
        return [
            (campaign.campaign_id, run.run_id)
            for campaign in client.list_campaigns()
            if campaign.stage == "Published"
            for run in client.list_runs(campaign.campaign_id)
            if run.status == "completed"
        ]


def land_files_alone(
    sim: SimHandle, runs: list[tuple[str, str]], lake_root: Path, workers: int = 4
) -> float:
    """Seconds to land the same export files with nothing else going on: each fetched with
    the client and written as Parquet by the landing code, `workers` at a time (the sync's
    NUDGE_PARALLEL_DOWNLOADS)."""
    from concurrent.futures import ThreadPoolExecutor

    from nudge_pipeline.lake import Lake
    from nudge_pipeline.landing.files import download_file
    from nudge_pipeline.landing.record import RunRecord
    from nudge_pipeline.nudgescribe.client import NudgescribeClient

    config = client_config(sim)
    lake = Lake(harness.fresh_dir(lake_root))
    records = [RunRecord(c, r, job_id="alone", num_files=LATENCY_FILES_PER_RUN) for c, r in runs]
    work = [(record, n) for record in records for n in range(LATENCY_FILES_PER_RUN)]
    with NudgescribeClient(config) as client:
        client.list_campaigns()  # log in before the clock starts, as the sync has by then
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            landed = list(pool.map(lambda w: download_file(client, lake, w[0], w[1], "utf8"), work))
        seconds = time.perf_counter() - started
    rows = sum(stats.row_count for stats, _ in landed)
    require(
        rows == len(runs) * LATENCY_FILES_PER_RUN * LATENCY_ROWS_PER_FILE,
        f"landing the files alone gave {rows} rows",
    )
    return seconds


def last_landed_at(lake_root: Path, runs: list[tuple[str, str]]) -> float:
    """Epoch seconds at which the last of `runs` was loaded, from the run records."""
    from nudge_pipeline.lake import Lake
    from nudge_pipeline.landing.record import RunRecordStore, RunState

    store = RunRecordStore(Lake(lake_root))
    loaded = []
    for campaign_id, run_id in runs:
        record = store.get(campaign_id, run_id)
        require(
            bool(record and record.state is RunState.LOADED and record.loaded_at),
            f"run {campaign_id}/{run_id} did not land: {record}",
        )
        assert record is not None and record.loaded_at
        loaded.append(datetime.fromisoformat(record.loaded_at).timestamp())
    return max(loaded)


def run_starts(dagster_home: Path, since: float) -> dict[str, float]:
    """Seconds from `since` (epoch) to the start of each job's Dagster run, from the instance."""
    with harness.instance_at(dagster_home) as instance:
        starts: dict[str, float] = {}
        for run in instance.get_runs():
            started = instance.get_run_stats(run.run_id).start_time
            if started is not None:
                starts[run.job_name] = min(starts.get(run.job_name, started), started) - since
        return starts


def latency(ctx: Context) -> Report:
    import os

    load_before = os.getloadavg()
    work = harness.fresh_dir(ctx.work / "latency")
    with harness.simulator(latency_config(), work / "sim") as sim:
        runs = published_runs(sim)
        require(len(runs) == LATENCY_RUNS, f"{len(runs)} eligible runs, not {LATENCY_RUNS}")
        sim.reset_stats()
        synced = harness.run_sync(
            "sync latency",
            sim,
            work / "sync",
            extra_env={"NUDGE_EXPORT_SETTLE_SECONDS": f"{LATENCY_SETTLE_S:g}"},
            timeout=LATENCY_SYNC_TIMEOUT_S,
        )
        publishes = sim.stats()["accepted_publishes"]
        polls = sim.stats()["calls"].get("POST /v1/messages/pages", 0) / LATENCY_RUNS
        # The floor's transfer part, on the same files (now rendered), in the same run.
        transfer = land_files_alone(sim, runs, work / "alone-lake")
    require(len(publishes) == LATENCY_RUNS, f"{len(publishes)} publishes for {LATENCY_RUNS} runs")
    rows = warehouse_rows(str(work / "sync" / "warehouse.duckdb"))
    expected_rows = LATENCY_RUNS * LATENCY_FILES_PER_RUN * LATENCY_ROWS_PER_FILE
    require(rows == expected_rows, f"sync latency: {rows} rows, expected {expected_rows}")
    all_landed = last_landed_at(work / "sync" / "lake", runs) - synced.started_at
    first_publish = min(p["at"] for p in publishes) - synced.started_at
    last_publish = max(p["at"] for p in publishes) - synced.started_at
    starts = run_starts(work / "sync" / "dagster_home", synced.started_at)
    floor = LATENCY_GENERATION_S + LATENCY_SETTLE_S + transfer
    ratio = all_landed / floor
    load_after = os.getloadavg()
    report = Report("latency")
    report.rows = [
        ("what", "seconds"),
        ("sync: spawn → first accepted publish", f"{first_publish:.2f}"),
        ("sync: spawn → last accepted publish", f"{last_publish:.2f}"),
        *(
            (f"sync: spawn → Dagster run of `{job}` started", f"{seconds:.2f}")
            for job, seconds in sorted(starts.items(), key=lambda item: item[1])
        ),
        (
            f"sync: spawn → all {LATENCY_RUNS} runs landed (last run record loaded)",
            f"{all_landed:.2f}",
        ),
        ("sync: spawn → exit", f"{synced.seconds:.2f}"),
        (
            f"transfer alone: {LATENCY_RUNS * LATENCY_FILES_PER_RUN} files → Parquet, 4 at a time",
            f"{transfer:.2f}",
        ),
        (
            f"floor: generation {LATENCY_GENERATION_S:g} + settle {LATENCY_SETTLE_S:g} + transfer",
            f"{floor:.2f}",
        ),
        ("peak RSS of the sync tree", f"{synced.peak_rss_mb:.0f} MB"),
        (
            "load average (1, 5, 15 min) before / after",
            f"{_loads(load_before)} / {_loads(load_after)}",
        ),
    ]
    report.target(
        "all landed / floor", ratio, f"≤ {LATENCY_OVER_FLOOR_MAX}", ratio <= LATENCY_OVER_FLOOR_MAX
    )
    report.target(
        "first publish after start",
        first_publish,
        f"≤ {FIRST_PUBLISH_MAX_S:g} s",
        first_publish <= FIRST_PUBLISH_MAX_S,
        "{:.2f} s",
    )
    report.target("pages polls per export", polls, "≤ 10", polls <= 10, "{:.1f}")
    report.data = {
        "pages_polls_per_export": polls,
        "first_publish_s": first_publish,
        "last_publish_s": last_publish,
        "all_landed_s": all_landed,
        "sync_exit_s": synced.seconds,
        "transfer_alone_s": transfer,
        "floor_s": floor,
        "ratio": ratio,
        "peak_rss_mb": synced.peak_rss_mb,
        "run_starts_s": starts,
        "sync_started_at": synced.started_at,
        "accepted_publishes": publishes,
        "load_before": load_before,
        "load_after": load_after,
    }
    return report


def _loads(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)
