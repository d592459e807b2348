"""The baselines `bench/run.py` measures the pipeline against, each run as its own program.

    python bench/baselines.py limit CSV_DIR OUT_DIR            # (a) pyarrow.csv → Parquet → DuckDB
    python bench/baselines.py dlt OUT_DIR                      # (b) dlt's Arrow path from the API
    python bench/baselines.py pg-copy PARQUET_DIR POSTGRES_URL # bare psycopg COPY of Parquet

Each prints one JSON line: rows landed and the seconds of its inner phases. They run in a
fresh interpreter, as `nudge-pipeline sync` does, so interpreter and import time count for
every contestant alike. The dlt baseline reads the API settings from the same NUDGESCRIBE_*
variables as the pipeline.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# What every contestant does with the export CSV: all columns strings, the literal strings
# NA/null/None/"" stay data, messages may hold newlines.
_PARSE = pacsv.ParseOptions(newlines_in_values=True)


def _convert_options(columns: list[str]) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        column_types={name: pa.string() for name in columns},
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


def _header(path: Path) -> list[str]:
    with path.open("rb") as handle:
        line = handle.readline().decode("utf-8-sig").strip()
    return line.split(",")


def _csv_reader(source: Any, columns: list[str]) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(source, parse_options=_PARSE, convert_options=_convert_options(columns))


# ------------------------------------------------------------------------- (a) limit


def limit(csv_dir: Path, out_dir: Path) -> dict[str, Any]:
    """The physical limit: stream each CSV into a Parquet file, then one DuckDB insert."""
    import duckdb

    paths = sorted(csv_dir.rglob("*.csv"))
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = 0
    parquet_paths = []
    for num, path in enumerate(paths):
        reader = _csv_reader(path, _header(path))
        target = out_dir / f"part-{num:05d}.parquet"
        with pq.ParquetWriter(target, reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        parquet_paths.append(str(target))
    converted = time.perf_counter()
    connection = duckdb.connect(str(out_dir / "limit.duckdb"))
    try:
        connection.execute(
            "CREATE TABLE messages AS SELECT * FROM read_parquet(?, union_by_name = true)",
            [parquet_paths],
        )
        loaded = connection.execute("SELECT COUNT(*) FROM messages").fetchone()
    finally:
        connection.close()
    done = time.perf_counter()
    return {
        "rows": rows,
        "table_rows": loaded[0] if loaded else 0,
        "files": len(paths),
        "convert_s": converted - started,
        "load_s": done - converted,
    }


# --------------------------------------------------------------------- (b) dlt's path


def api_session(
    base_url: str, api_code: str, api_key: str, api_secret: str
) -> tuple[Any, str, dict[str, str]]:
    """A requests session logged in to the API: (session, base URL, headers to send)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    base = base_url.rstrip("/")
    session = requests.Session()
    session.trust_env = False
    # Keep-alive connections the server has dropped are retried, as any careful client does.
    retry = Retry(total=3, connect=3, read=2, allowed_methods=None, backoff_factor=0.2)
    session.mount("http://", HTTPAdapter(pool_maxsize=16, max_retries=retry))
    session.mount("https://", HTTPAdapter(pool_maxsize=16, max_retries=retry))
    context = json.dumps({"api_access": True, "api_code": api_code})
    headers = {"x-auth-context": context, "x-ip": "127.0.0.1"}
    login = session.post(
        f"{base}/v1/auth",
        json={"api_key": api_key, "api_secret": api_secret},
        headers=headers,
        timeout=60,
    )
    login.raise_for_status()
    return session, base, headers | {"authorization": f"Bearer {login.json()['token']}"}


def _api_session() -> tuple[Any, str, dict[str, str]]:
    env = os.environ
    return api_session(
        env["NUDGESCRIBE_BASE_URL"],
        env["NUDGESCRIBE_API_CODE"],
        env["NUDGESCRIBE_API_KEY"],
        env["NUDGESCRIBE_API_SECRET"],
    )


def _published_runs(session: Any, base: str, headers: dict[str, str]) -> list[dict[str, str]]:
    workspaces = session.post(f"{base}/v1/campaign/all", json={}, headers=headers, timeout=60)
    workspaces.raise_for_status()
    targets = []
    for workspace in workspaces.json():
        for campaign in workspace["campaigns"]:
            if campaign["stage"] != "Published":
                continue
            history = session.post(
                f"{base}/v1/campaign/rerun/history",
                json={"campaign_id": campaign["campaign_id"]},
                headers=headers,
                timeout=60,
            )
            history.raise_for_status()
            targets += [
                {"campaign_id": campaign["campaign_id"], "run_id": run["run_id"]}
                for run in history.json()
                if run["status"] == "completed"
            ]
    return targets


def _export_files(session: Any, base: str, headers: dict[str, str], target: dict[str, str]) -> int:
    """num_files of the run's export: reuse a completed one, else publish and poll."""
    published = False
    delay = 0.2
    while True:
        pages = session.post(f"{base}/v1/messages/pages", json=target, headers=headers, timeout=60)
        pages.raise_for_status()
        status = pages.json()
        if status.get("status") == "completed":
            return int(status["num_files"])
        if not published and status.get("status") not in ("processing", "queued"):
            session.post(
                f"{base}/v1/messages/publish", json=target, headers=headers, timeout=60
            ).raise_for_status()
            published = True
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)


def dlt_pipeline(out_dir: Path, workers: int) -> dict[str, Any]:
    """The fastest way a dlt user would land the export: Arrow tables, parallel fetches."""
    import dlt

    session, base, headers = _api_session()
    started = time.perf_counter()

    @dlt.resource(name="export_files")
    def export_files() -> Iterator[dict[str, Any]]:
        for target in _published_runs(session, base, headers):
            for file_num in range(_export_files(session, base, headers, target)):
                yield {**target, "file_num": file_num}

    @dlt.transformer(name="messages", write_disposition="append", parallelized=True)
    def messages(item: dict[str, Any]) -> Iterator[pa.Table]:
        body = {**item, "export_type": "utf8"}
        response = session.post(f"{base}/v1/messages/fetch", json=body, headers=headers, timeout=60)
        response.raise_for_status()
        # A file is ~10k rows (a few MB): parse it from memory, as a dlt user would.
        content = response.content
        header = content[: content.index(b"\n")].decode("utf-8-sig").strip().split(",")
        table = pacsv.read_csv(
            pa.BufferReader(content), parse_options=_PARSE, convert_options=_convert_options(header)
        )
        yield table.append_column(
            "file_num", pa.repeat(pa.scalar(item["file_num"], pa.int32()), table.num_rows)
        )

    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ["EXTRACT__WORKERS"] = str(workers)
    pipeline = dlt.pipeline(
        pipeline_name="nudgescribe_bench",
        pipelines_dir=str(out_dir / "pipelines"),
        destination=dlt.destinations.duckdb(str(out_dir / "dlt.duckdb")),
        dataset_name="nudgescribe",
    )
    info = pipeline.run(export_files | messages, loader_file_format="parquet")
    info.raise_on_failed_jobs()
    done = time.perf_counter()
    with pipeline.sql_client() as client:
        counted = client.execute_sql("SELECT COUNT(*) FROM messages") or [[0]]
    return {"rows": counted[0][0], "pipeline_s": done - started}


# ----------------------------------------------------------------------- PostgreSQL


# The key of nudgescribe.messages; the lake's Parquet holds every one of its columns.
MESSAGE_KEY = ("campaign_id", "run_id", "file_num", "row_num")


def pg_copy(parquet_dir: Path, url: str) -> dict[str, Any]:
    """Bare COPY of the lake's Parquet (Arrow → CSV text → COPY FROM STDIN), twice.

    Once into a table with the same columns and primary key as nudgescribe.messages, once
    into the same table without a key.
    """
    import psycopg

    paths = sorted(parquet_dir.rglob("*.parquet"))
    columns = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in pq.read_schema(paths[0]))
    result: dict[str, Any] = {}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        for name, key in (("keyed", f", PRIMARY KEY ({', '.join(MESSAGE_KEY)})"), ("plain", "")):
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS bench_copy")
                cursor.execute(f"CREATE TABLE bench_copy ({columns}{key})")
            connection.commit()
            started = time.perf_counter()
            rows = _copy_files(connection, paths)
            connection.commit()
            result[f"{name}_copy_s"] = time.perf_counter() - started
            with connection.cursor() as cursor:
                counted = cursor.execute("SELECT COUNT(*) FROM bench_copy").fetchone()
                cursor.execute("DROP TABLE bench_copy")
            connection.commit()
            result[f"{name}_rows"] = counted[0] if counted else 0
    result["rows"] = rows
    return result


def _copy_files(connection: Any, paths: list[Path]) -> int:
    import io

    rows = 0
    with connection.cursor() as cursor:
        for path in paths:
            parquet = pq.ParquetFile(path)
            with cursor.copy("COPY bench_copy FROM STDIN (FORMAT csv)") as copy:
                for batch in parquet.iter_batches(batch_size=65_536):
                    buffer = io.BytesIO()
                    pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
                    copy.write(buffer.getvalue())
                    rows += batch.num_rows
    return rows


def _pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    return "TEXT"


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "limit":
        result = limit(Path(args[0]), Path(args[1]))
    elif command == "dlt":
        result = dlt_pipeline(Path(args[0]), int(args[1]) if len(args) > 1 else 4)
    elif command == "pg-copy":
        result = pg_copy(Path(args[0]), args[1])
    else:
        raise SystemExit(f"unknown baseline {command!r}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
