"""The postgres scenario: a sync into PostgreSQL beside Sling and a bare COPY."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import harness
from context import ONE_MILLION, ROWS_PER_FILE, Context, require
from harness import Measured
from report import Report, fmt_mb, fmt_s, median, paired_ratio, rows_per_s

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_DATABASE = "nudge_bench"
PG_DAGSTER_DATABASE = "nudge_bench_dagster"
POSTGRES_OVER_COPY_MAX = 1.5


@contextlib.contextmanager
def dagster_database(storage: str) -> Iterator[str | None]:
    if storage == "sqlite":
        yield None
        return
    with pg_database(PG_DAGSTER_DATABASE) as url:
        yield url.replace("+psycopg", "+psycopg2")


@contextlib.contextmanager
def pg_database(name: str = PG_DATABASE) -> Iterator[str]:
    import psycopg

    def recreate(create: bool) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            if create:
                admin.execute(f"CREATE DATABASE {name}")

    recreate(True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        recreate(False)


def libpq(url: str) -> str:
    """The plain libpq URL of a SQLAlchemy `postgresql+psycopg://` one (psycopg, Sling)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def postgres_rows(url: str, table: tuple[str, str] = ("nudgescribe", "messages")) -> int:
    import psycopg
    from psycopg import sql

    query = sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(*table))
    with psycopg.connect(libpq(url)) as connection:
        row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0


def sling_move(label: str, csv_dir: Path, libpq_url: str, work: Path) -> Measured:
    """Sling's plain move of the export CSV files into a new PostgreSQL table (full refresh)."""
    from sling_linux_amd64 import SLING_BIN

    env = {
        **harness.program_env(),
        "SLING_HOME_DIR": str(harness.fresh_dir(work / "sling-home")),
        "SLING_DISABLE_TELEMETRY": "true",
    }
    target = f"{libpq_url}?sslmode=disable"
    command = [SLING_BIN, "run", "--src-stream", f"file://{csv_dir}/", "--tgt-conn", target]
    command += ["--tgt-object", "public.sling_messages", "--mode", "full-refresh"]
    return harness.run_measured(label, command, env).check()


def postgres(ctx: Context) -> Report:
    sim = ctx.sims.get(f"{ONE_MILLION}", harness.single_run_config(ONE_MILLION, ROWS_PER_FILE))
    rounds = ctx.long_rounds
    syncs: list[Measured] = []
    slings: list[Measured] = []
    loads: list[float] = []
    copies: list[Measured] = []
    for i in range(rounds):
        work = ctx.round_dir("postgres")
        with pg_database() as url:
            sling = sling_move(f"sling #{i}", harness.export_csv_dir(sim), libpq(url), work)
            moved = postgres_rows(url, ("public", "sling_messages"))
            require(moved == ONE_MILLION, f"sling #{i}: {moved} rows moved")
            slings.append(sling)
        with pg_database() as url:
            measured = harness.run_sync(f"sync pg #{i}", sim, work, url)
            landed = postgres_rows(url)
            require(landed == ONE_MILLION, f"sync pg #{i}: {landed} rows in the warehouse")
            loads.append(harness.load_seconds(work / "dagster_home"))
            syncs.append(measured)
            copy = harness.run_baseline(
                f"pg-copy #{i}",
                ["pg-copy", str(work / "lake" / "messages"), libpq(url)],
            )
            require(
                copy.result.get("keyed_rows") == copy.result.get("plain_rows") == ONE_MILLION,
                f"pg-copy: {copy.result}",
            )
            copies.append(copy)
        print(
            f"  pg #{i}: sync {measured.seconds:.2f} s (load step {loads[-1]:.2f} s), "
            f"Sling {sling.seconds:.2f} s, bare COPY {copy.result['keyed_copy_s']:.2f} s (keyed)",
            file=sys.stderr,
        )
    copy_s = [c.result["keyed_copy_s"] for c in copies]
    plain_s = [c.result["plain_copy_s"] for c in copies]
    ratio = median([load / c for load, c in zip(loads, copy_s, strict=True)])
    over_sling = paired_ratio(syncs, slings)
    report = Report("postgres")
    report.rows = [
        ("what", f"median of {rounds} (range)", "rows/s", "peak RSS (tree)"),
        (
            "sync into PostgreSQL, whole command (HTTP, lake, warehouse)",
            fmt_s([m.seconds for m in syncs]),
            rows_per_s(ONE_MILLION, [m.seconds for m in syncs]),
            fmt_mb([m.peak_rss_mb for m in syncs]),
        ),
        (
            "Sling 1.4.11: the export CSV files from local disk, whole command",
            fmt_s([m.seconds for m in slings]),
            rows_per_s(ONE_MILLION, [m.seconds for m in slings]),
            fmt_mb([m.peak_rss_mb for m in slings]),
        ),
        ("sync's warehouse replace (`load_seconds`)", fmt_s(loads), rows_per_s(ONE_MILLION, loads)),
        ("bare COPY of the same Parquet, same key", fmt_s(copy_s), rows_per_s(ONE_MILLION, copy_s)),
        ("bare COPY of the same Parquet, no key", fmt_s(plain_s), rows_per_s(ONE_MILLION, plain_s)),
    ]
    report.target("whole sync / Sling's move", over_sling, "≤ 1.0", over_sling <= 1.0)
    report.target(
        "load step / bare COPY (same key)",
        ratio,
        f"≤ {POSTGRES_OVER_COPY_MAX}",
        ratio <= POSTGRES_OVER_COPY_MAX,
    )
    report.data = {
        "sync_seconds": [m.seconds for m in syncs],
        "sling_seconds": [m.seconds for m in slings],
        "sling_peak_rss_mb": [m.peak_rss_mb for m in slings],
        "load_step_seconds": loads,
        "copy_seconds": copy_s,
        "copy_no_key_seconds": plain_s,
        "ratio": ratio,
        "sync_over_sling": over_sling,
    }
    return report
