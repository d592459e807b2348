"""Warehouse load speed: the loaders against bare loads of the same Parquet, same run.

    .venv/bin/python bench/warehouse_bench.py [--files 100 --rows 10000 --repeat 5]

Lands the benchmark's export CSVs (bench/_common.py, the same files as lake_bench.py:
1M unique messages in 100 files) as lake Parquet files with write_message_file, then
times (median of --repeat runs):
- DuckDB: Warehouse.replace_messages vs a bare `INSERT INTO t SELECT * FROM
  read_parquet([...])` into a table of the same columns (no index, as nudgescribe.messages
  on DuckDB: sql/003);
- PostgreSQL (127.0.0.1:5432, a scratch database): Warehouse.replace_messages vs a bare
  psycopg COPY of the same Parquet into a table of the same columns and primary key,
  both as CSV (pyarrow CSV writer) and as binary (the loader's encoder, no warehouse code
  around it).
Each run loads into an empty partition; the baselines connect, load, commit and close too.
Each round runs every contender once, in alternating order. A ratio is the median of the
rounds' ratios, each measured side by side (the ratio of the medians is printed too).
Prints the ratios and the peak RSS of each measurement (each runs in a fresh process),
and exits with status 1 when a ratio misses its target.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import write_export_csvs  # noqa: E402

from nudge_pipeline.lake import Lake, existing_message_file, write_message_file  # noqa: E402
from nudge_pipeline.warehouse import MessageFileLoad, Warehouse, pgcopy  # noqa: E402

DUCKDB_TARGET = 1.2
POSTGRES_TARGET = 1.3

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
# extra has the type nudgescribe.messages gives it: JSON on DuckDB, jsonb on PostgreSQL.
MESSAGE_COLUMNS = """
    campaign_id TEXT NOT NULL, run_id TEXT NOT NULL, file_num INTEGER NOT NULL,
    row_num BIGINT NOT NULL, customer_id TEXT NOT NULL, message TEXT NOT NULL, extra {json},
    export_job_id TEXT
"""
# nudgescribe.messages keeps this primary key on PostgreSQL; on DuckDB it has no index.
PG_MESSAGE_KEY = ", PRIMARY KEY (campaign_id, run_id, file_num, row_num)"


def write_lake(csv_paths: list[Path], directory: Path) -> list[MessageFileLoad]:
    """Land the export CSVs the way the pipeline does; reused while the CSVs are unchanged."""
    lake = Lake(directory, fsync="off")
    loads = []
    for file_num, path in enumerate(csv_paths):
        stats = existing_message_file(lake, "camp-0001", "run-0001", file_num)
        if stats is None or stats.byte_count != path.stat().st_size:
            with path.open("rb") as stream:
                stats = write_message_file(
                    lake, "camp-0001", "run-0001", file_num, stream, "job-0001"
                )
        local = lake.local_path(stats.lake_path)
        assert local is not None
        loads.append(
            MessageFileLoad(
                file_num, str(local), stats.row_count, local.stat().st_size, stats.sha256
            )
        )
    return loads


# -- measured actions: each runs in a fresh process, returns seconds ---------------------


def duckdb_loader(url: str, loads: list[MessageFileLoad]) -> float:
    with Warehouse(url) as wh:
        start = time.perf_counter()
        wh.replace_messages("camp-0001", "run-0001", loads)
        return time.perf_counter() - start


def duckdb_bare(path: str, loads: list[MessageFileLoad]) -> float:
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect(path)
    con.execute(
        "INSERT INTO t SELECT * FROM read_parquet($files)", {"files": [f.lake_path for f in loads]}
    )
    con.close()
    return time.perf_counter() - start


def pg_loader(url: str, loads: list[MessageFileLoad]) -> float:
    with Warehouse(url) as wh:
        start = time.perf_counter()
        wh.replace_messages("camp-0001", "run-0001", loads)
        return time.perf_counter() - start


def pg_bare_csv(dsn: str, loads: list[MessageFileLoad]) -> float:
    import psycopg

    start = time.perf_counter()
    with (
        psycopg.connect(dsn) as conn,
        conn.cursor() as cur,
        cur.copy("COPY t FROM STDIN (FORMAT CSV)") as copy,
    ):
        for load in loads:
            for batch in pq.ParquetFile(load.lake_path).iter_batches(65_536):
                out = io.BytesIO()
                pacsv.write_csv(batch, out, pacsv.WriteOptions(include_header=False))
                copy.write(out.getbuffer())
    return time.perf_counter() - start


def pg_bare_binary(dsn: str, loads: list[MessageFileLoad]) -> float:
    import psycopg

    start = time.perf_counter()
    with (
        psycopg.connect(dsn) as conn,
        conn.cursor() as cur,
        cur.copy("COPY t FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(pgcopy.HEADER)
        for load in loads:
            for batch in pq.ParquetFile(load.lake_path).iter_batches(65_536):
                pieces: list[Any] = [pa.scalar(pgcopy.field_count(batch.num_columns))]
                for name, column in zip(batch.schema.names, batch.columns, strict=True):
                    pieces.extend(pgcopy.encode_field(column, jsonb=name == "extra"))
                copy.write(pgcopy.encode_rows(pieces, batch.num_rows))
        copy.write(pgcopy.TRAILER)
    return time.perf_counter() - start


def _child(name: str, args: tuple[Any, ...], queue: Any) -> None:
    seconds = ACTIONS[name](*args)
    queue.put((seconds, psutil.Process().memory_info().rss))


ACTIONS = {
    "duckdb_loader": duckdb_loader,
    "duckdb_bare": duckdb_bare,
    "pg_loader": pg_loader,
    "pg_bare_csv": pg_bare_csv,
    "pg_bare_binary": pg_bare_binary,
}


def measure(name: str, *args: Any) -> tuple[float, int]:
    """Run one action in a fresh process; return (seconds, peak RSS bytes)."""
    queue: Any = multiprocessing.Queue()
    process = multiprocessing.Process(target=_child, args=(name, args, queue))
    process.start()
    peak = 0
    proc = psutil.Process(process.pid)
    while process.is_alive():
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.01)
    process.join()
    seconds, final_rss = queue.get(timeout=10)
    if process.exitcode != 0:
        raise RuntimeError(f"{name} failed")
    return seconds, max(peak, final_rss)


# -- setup between measurements ----------------------------------------------------------


def reset_duckdb(url: str, path: str) -> None:
    import duckdb

    with Warehouse(url) as wh:
        wh.migrate()
    con = duckdb.connect(path)
    con.execute("DELETE FROM nudgescribe.messages")
    con.execute("DELETE FROM nudgescribe.message_files")
    con.execute(f"CREATE OR REPLACE TABLE t ({MESSAGE_COLUMNS.format(json='JSON')})")
    con.execute("CHECKPOINT")
    con.close()


def reset_pg(url: str, dsn: str) -> None:
    import psycopg

    with Warehouse(url) as wh:
        wh.migrate()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE nudgescribe.messages, nudgescribe.message_files")
        conn.execute("DROP TABLE IF EXISTS t")
        conn.execute(f"CREATE TABLE t ({MESSAGE_COLUMNS.format(json='jsonb')}{PG_MESSAGE_KEY})")
        conn.execute("VACUUM ANALYZE")


def run_series(
    names: list[str], args: dict[str, tuple[Any, ...]], reset: Any, repeat: int
) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {name: [] for name in names}
    peaks: dict[str, int] = dict.fromkeys(names, 0)
    for round_num in range(repeat):
        # Interleaved, in alternating order, so drift hits every contender alike.
        for name in names if round_num % 2 == 0 else reversed(names):
            reset()
            seconds, peak = measure(name, *args[name])
            times[name].append(seconds)
            peaks[name] = max(peaks[name], peak)
    return {
        name: {
            "median_s": statistics.median(times[name]),
            "runs_s": times[name],
            "peak_rss_mb": peaks[name] / 2**20,
        }
        for name in names
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000, help="rows per file")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "nudge-bench"
    )
    options = parser.parse_args()
    # Contenders run in forked processes and inherit this one's imports. pyarrow's first
    # conversion of Python objects imports pandas (seconds under load): do it here, so
    # that no contender times a one-time import.
    pa.array(["warm-up"])

    import psycopg
    from psycopg import sql

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        data = options.data_dir / f"csv-{options.files}x{options.rows}"
        csv_paths = write_export_csvs(data, options.files, options.rows)
        loads = write_lake(csv_paths, options.data_dir / f"lake-{options.files}x{options.rows}")
        size = sum(f.byte_count or 0 for f in loads) / 2**20
        rows = sum(f.row_count for f in loads)
        print(f"{rows:,} messages in {options.files} Parquet files, {size:.1f} MiB")
        results: dict[str, dict[str, float]] = {}

        duck_path = str(root / "bench.duckdb")
        duck_url = f"duckdb:///{duck_path}"
        results |= run_series(
            ["duckdb_loader", "duckdb_bare"],
            {"duckdb_loader": (duck_url, loads), "duckdb_bare": (duck_path, loads)},
            lambda: reset_duckdb(duck_url, duck_path),
            options.repeat,
        )
        if not options.skip_postgres:
            name = f"nudge_bench_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            try:
                dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
                url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
                results |= run_series(
                    ["pg_loader", "pg_bare_csv", "pg_bare_binary"],
                    {
                        "pg_loader": (url, loads),
                        "pg_bare_csv": (dsn, loads),
                        "pg_bare_binary": (dsn, loads),
                    },
                    lambda: reset_pg(url, dsn),
                    options.repeat,
                )
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                    admin.execute(drop.format(sql.Identifier(name)))

    print(f"\n{'measurement':<16} {'median s':>9} {'peak RSS MB':>12}   runs")
    for name, result in results.items():
        runs = ", ".join(f"{s:.2f}" for s in result["runs_s"])  # type: ignore[attr-defined]
        print(f"{name:<16} {result['median_s']:>9.2f} {result['peak_rss_mb']:>12.0f}   {runs}")
    ratios = {
        f"duckdb loader / bare read_parquet insert (target <= {DUCKDB_TARGET})": (
            "duckdb_loader",
            "duckdb_bare",
            DUCKDB_TARGET,
        ),
        f"postgres loader / bare CSV COPY (target <= {POSTGRES_TARGET})": (
            "pg_loader",
            "pg_bare_csv",
            POSTGRES_TARGET,
        ),
        f"postgres loader / bare binary COPY (target <= {POSTGRES_TARGET})": (
            "pg_loader",
            "pg_bare_binary",
            POSTGRES_TARGET,
        ),
    }
    print()
    summary = {}
    missed = []
    for label, (ours, bare, target) in ratios.items():
        if ours in results and bare in results:
            of_medians = results[ours]["median_s"] / results[bare]["median_s"]
            mine, theirs = results[ours]["runs_s"], results[bare]["runs_s"]
            paired = statistics.median(
                a / b
                for a, b in zip(mine, theirs, strict=True)  # type: ignore[call-overload]
            )
            summary[label] = round(paired, 3)
            print(
                f"{label}: {paired:.2f}x (median of rounds' ratios; of medians {of_medians:.2f}x)"
            )
            if paired > target:
                missed.append(label)
    print(json.dumps({"results": results, "ratios": summary}, default=str))
    if missed:
        print("TARGET MISSED: " + "; ".join(missed))
        sys.exit(1)
    print("all targets met")


if __name__ == "__main__":
    main()
