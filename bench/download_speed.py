"""Is the simulator ever the bottleneck? Download vs parse of a 1M-message export.

Renders a 1,000,000-message run as 100 files of 10,000 rows in the simulator, downloads every
file over loopback with plain `requests` (utf8 export, one connection per worker), then times
pyarrow.csv parsing the very same files with the options the lake uses (all columns strings,
no NULL conversion, newlines in values). The simulator is fast enough when downloading takes
at most a quarter of the parse time.

    .venv/bin/python bench/download_speed.py [--rounds 3] [--connections 1] [--min-ratio 4]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import requests

from nudge_pipeline.simulator import SimConfig, SimHandle, run_simulator

MESSAGES = 1_000_000
ROWS_PER_FILE = 10_000


def _session(sim: SimHandle) -> tuple[requests.Session, dict[str, str]]:
    session = requests.Session()
    session.trust_env = False  # loopback: no proxy lookups per request
    context = json.dumps({"api_access": True, "api_code": sim.api_code})
    headers = {"x-auth-context": context, "x-ip": "127.0.0.1"}
    login = session.post(
        f"{sim.base_url}/v1/auth",
        json={"api_key": sim.account.api_key, "api_secret": sim.account.api_secret},
        headers=headers,
        timeout=60,
    )
    login.raise_for_status()
    return session, headers | {"authorization": f"Bearer {login.json()['token']}"}


def _export(sim: SimHandle) -> tuple[str, str, int, float]:
    session, headers = _session(sim)
    campaigns = session.post(f"{sim.base_url}/v1/campaign/all", json={}, headers=headers).json()
    campaign = next(c for ws in campaigns for c in ws["campaigns"] if c["stage"] == "Published")
    runs = session.post(
        f"{sim.base_url}/v1/campaign/rerun/history",
        json={"campaign_id": campaign["campaign_id"]},
        headers=headers,
    ).json()
    target = {"campaign_id": campaign["campaign_id"], "run_id": runs[0]["run_id"]}
    started = time.perf_counter()
    session.post(
        f"{sim.base_url}/v1/messages/publish", json=target, headers=headers
    ).raise_for_status()
    while True:
        pages = session.post(
            f"{sim.base_url}/v1/messages/pages", json=target, headers=headers
        ).json()
        if pages.get("status") == "completed":
            return (
                target["campaign_id"],
                target["run_id"],
                pages["num_files"],
                time.perf_counter() - started,
            )
        time.sleep(0.05)


def _download(sim: SimHandle, campaign_id: str, run_id: str, files: list[int]) -> int:
    session, headers = _session(sim)
    total = 0
    for file_num in files:
        body = {
            "campaign_id": campaign_id,
            "run_id": run_id,
            "file_num": file_num,
            "export_type": "utf8",
        }
        response = session.post(
            f"{sim.base_url}/v1/messages/fetch", json=body, headers=headers, stream=True, timeout=60
        )
        response.raise_for_status()
        data = response.raw.read()
        if len(data) != int(response.headers["content-length"]):
            raise RuntimeError(f"file {file_num}: short body")
        total += len(data)
    session.close()
    return total


def _download_all(
    sim: SimHandle, campaign_id: str, run_id: str, num_files: int, connections: int
) -> tuple[float, int]:
    shards = [list(range(i, num_files, connections)) for i in range(connections)]
    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        total = sum(pool.map(lambda shard: _download(sim, campaign_id, run_id, shard), shards))
    return time.perf_counter() - started, total


def _parse(path: Path) -> int:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        columns = next(csv.reader(handle))
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in columns},
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=True,
        ),
    )
    return table.num_rows


def _parse_all(paths: list[Path]) -> tuple[float, int]:
    started = time.perf_counter()
    rows = sum(_parse(path) for path in paths)
    return time.perf_counter() - started, rows


def _server_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--min-ratio", type=float, default=4.0)
    args = parser.parse_args()
    config = SimConfig(
        workspaces=1,
        campaigns_per_stage=1,
        runs_per_campaign=1,
        customer_groups=1,
        customers_per_group=10,
        messages_per_run=MESSAGES,
        rows_per_file=ROWS_PER_FILE,
        export_duration=0,
    )
    with run_simulator(config) as sim:
        campaign_id, run_id, num_files, render_s = _export(sim)
        paths = sorted(sim.data_dir.rglob("part-*.csv"))
        assert len(paths) == num_files
        size = sum(p.stat().st_size for p in paths)
        downloads, parses = [], []
        for _ in range(args.rounds):
            seconds, total = _download_all(sim, campaign_id, run_id, num_files, args.connections)
            if total != size:
                raise RuntimeError(f"downloaded {total} bytes, files hold {size}")
            downloads.append(seconds)
            seconds, rows = _parse_all(paths)
            if rows != MESSAGES:
                raise RuntimeError(f"parsed {rows} rows, expected {MESSAGES}")
            parses.append(seconds)
        server_rss = _server_peak_rss_mb(sim.process.pid)
    client_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    best_dl, best_parse = min(downloads), min(parses)
    med_dl, med_parse = statistics.median(downloads), statistics.median(parses)
    ratio = med_parse / med_dl
    mb = size / 1e6
    export = f"{num_files} files × {ROWS_PER_FILE:,} rows = {MESSAGES:,} messages, {mb:.0f} MB"
    dl_label = f"download, {args.connections} connection(s), median / best of {args.rounds}"
    dl_figures = f"{med_dl:.3f} s / {best_dl:.3f} s ({mb / med_dl:.0f} MB/s)"
    parse_figures = f"{med_parse:.3f} s / {best_parse:.3f} s ({mb / med_parse:.0f} MB/s)"
    print(f"| export | {export} |")
    print("|---|---|")
    print(f"| render (publish → completed) | {render_s:.2f} s |")
    print(f"| {dl_label} | {dl_figures} |")
    print(f"| pyarrow.csv parse, median / best | {parse_figures} |")
    print(f"| parse ÷ download (median) | **{ratio:.2f}×** (target ≥ {args.min_ratio:g}×) |")
    print(f"| peak RSS: simulator / this process | {server_rss:.0f} MB / {client_rss:.0f} MB |")
    return 0 if ratio >= args.min_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
