"""Is the simulator ever the bottleneck? Download vs parse of a 1M-message export.

Renders a 1,000,000-message run as 100 files of 10,000 rows in the simulator, then, in
each round:

- downloads every file over loopback (utf8 export), several keep-alive connections in
  parallel as the connector does, each reading 1 MiB at a time into a reused buffer. The
  timed client is the standard library's http.client: it costs less per request than
  requests, so what is measured is the simulator. The same download with requests (the
  connector's HTTP library) is printed for comparison;
- parses the very same files with pyarrow's streaming CSV reader and the options the lake
  uses (1 MiB blocks, threads, all columns strings, no NULL conversion, newlines in values).

The simulator is fast enough when downloading takes less than a quarter of the parse time
(medians over the rounds). The script also republishes the run to show that the rendered
files are reused, and prints the peak RSS of both processes.

    .venv/bin/python bench/download_speed.py [--rounds 5] [--connections 8] [--min-ratio 4]
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import queue
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import api_session  # noqa: E402
from harness import single_run_config  # noqa: E402

from nudge_pipeline.lake.csv_stream import BLOCK_SIZE  # noqa: E402
from nudge_pipeline.simulator import SimHandle, run_simulator  # noqa: E402

MESSAGES = 1_000_000
ROWS_PER_FILE = 10_000
READ_SIZE = 1024 * 1024
FETCH = "/v1/messages/fetch"


class Client:
    """One authenticated requests session: set-up calls, and downloads for comparison."""

    def __init__(self, sim: SimHandle) -> None:
        self.session, self.base_url, self.headers = api_session(
            sim.base_url, sim.api_code, sim.account.api_key, sim.account.api_secret
        )

    def post(self, path: str, body: dict[str, Any], **kw: Any) -> requests.Response:
        response = self.session.post(
            f"{self.base_url}{path}", json=body, headers=self.headers, timeout=60, **kw
        )
        response.raise_for_status()
        return response

    def call(self, path: str, body: dict[str, Any]) -> Any:
        return self.post(path, body).json()

    def export(self, target: dict[str, str]) -> tuple[int, float]:
        """Publish and poll pages until completed: (num_files, seconds)."""
        started = time.perf_counter()
        self.call("/v1/messages/publish", target)
        while True:
            pages = self.call("/v1/messages/pages", target)
            if pages.get("status") == "completed":
                return pages["num_files"], time.perf_counter() - started
            time.sleep(0.02)

    def download(self, target: dict[str, str], file_num: int, buffer: memoryview) -> int:
        response = self.post(FETCH, fetch_body(target, file_num), stream=True)
        with response:
            size = 0
            while n := response.raw.readinto(buffer):
                size += n
        return checked(file_num, size, response.headers["content-length"])


class LeanConnection:
    """One keep-alive http.client connection that fetches files into a reused buffer."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
        self.headers = headers | {"content-type": "application/json"}

    def download(self, target: dict[str, str], file_num: int, buffer: memoryview) -> int:
        body = json.dumps(fetch_body(target, file_num)).encode()
        self.connection.request("POST", FETCH, body, self.headers)
        response = self.connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"file {file_num}: {response.status} {response.read()[:200]!r}")
        size = 0
        while n := response.readinto(buffer):
            size += n
        return checked(file_num, size, response.headers["content-length"])


def fetch_body(target: dict[str, str], file_num: int) -> dict[str, Any]:
    return {**target, "file_num": file_num, "export_type": "utf8"}


def checked(file_num: int, size: int, announced: str) -> int:
    if size != int(announced):
        raise RuntimeError(f"file {file_num}: {size} bytes, Content-Length said {announced}")
    return size


def _first_published_run(client: Client) -> dict[str, str]:
    workspaces = client.call("/v1/campaign/all", {})
    campaign = next(c for ws in workspaces for c in ws["campaigns"] if c["stage"] == "Published")
    runs = client.call("/v1/campaign/rerun/history", {"campaign_id": campaign["campaign_id"]})
    return {"campaign_id": campaign["campaign_id"], "run_id": runs[0]["run_id"]}


Downloader = Callable[[dict[str, str], int, memoryview], int]


def download_all(
    downloaders: list[Downloader], target: dict[str, str], num_files: int
) -> tuple[float, int]:
    """Every file once, each connection taking the next file as it becomes free."""
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for file_num in range(num_files):
        todo.put(file_num)
    totals = [0] * len(downloaders)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        buffer = memoryview(bytearray(READ_SIZE))
        try:
            while True:
                try:
                    file_num = todo.get_nowait()
                except queue.Empty:
                    return
                totals[index] += downloaders[index](target, file_num, buffer)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(downloaders))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return seconds, sum(totals)


def parse(path: Path) -> int:
    """Rows in one file, read the way the lake reads an export stream."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        columns = next(csv.reader(handle))
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE, use_threads=True),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in columns},
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=True,
        ),
    )
    return sum(batch.num_rows for batch in reader)


def parse_all(paths: list[Path]) -> tuple[float, int]:
    started = time.perf_counter()
    rows = sum(parse(path) for path in paths)
    return time.perf_counter() - started, rows


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--min-ratio", type=float, default=4.0)
    args = parser.parse_args()
    config = single_run_config(MESSAGES, ROWS_PER_FILE)
    load_before = os.getloadavg()[0]
    with run_simulator(config) as sim:
        clients = [Client(sim) for _ in range(args.connections)]
        target = _first_published_run(clients[0])
        num_files, render_s = clients[0].export(target)
        paths = sorted(sim.data_dir.rglob("part-*.csv"))
        if len(paths) != num_files:
            raise RuntimeError(f"{len(paths)} files on disk, pages says {num_files}")
        size = sum(p.stat().st_size for p in paths)
        _, republish_s = clients[0].export(target)
        lean: list[Downloader] = [LeanConnection(sim.base_url, c.headers).download for c in clients]
        with_requests: list[Downloader] = [c.download for c in clients]
        download_all(lean, target, num_files)  # warm-up: connections, page cache
        downloads: list[float] = []
        parses: list[float] = []
        requests_downloads: list[float] = []
        for _ in range(args.rounds):
            for timings, downloaders in ((downloads, lean), (requests_downloads, with_requests)):
                seconds, total = download_all(downloaders, target, num_files)
                if total != size:
                    raise RuntimeError(f"downloaded {total} bytes, files hold {size}")
                timings.append(seconds)
            seconds, rows = parse_all(paths)
            if rows != MESSAGES:
                raise RuntimeError(f"parsed {rows} rows, expected {MESSAGES}")
            parses.append(seconds)
        server_rss = peak_rss_mb(sim.process.pid)
    client_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    med_dl, med_parse = statistics.median(downloads), statistics.median(parses)
    med_requests = statistics.median(requests_downloads)
    ratio = med_parse / med_dl
    mb = size / 1e6

    def figures(timings: list[float]) -> str:
        median = statistics.median(timings)
        return f"{median:.3f} s / {min(timings):.3f} s ({mb / median:.0f} MB/s)"

    n = args.connections
    export = f"{num_files} files × {ROWS_PER_FILE:,} rows = {MESSAGES:,} messages, {mb:.0f} MB"
    print(f"| export | {export} |")
    print("|---|---|")
    print(f"| render (publish → completed) | {render_s:.2f} s |")
    print(f"| republish, files reused (publish → completed) | {republish_s:.2f} s |")
    print(f"| download, http.client × {n}, median / best of {args.rounds} | {figures(downloads)} |")
    print(f"| download, requests × {n}, median / best | {figures(requests_downloads)} |")
    print(f"| pyarrow.csv parse, lake options, median / best | {figures(parses)} |")
    print(f"| parse ÷ download (median) | **{ratio:.2f}×** (target ≥ {args.min_ratio:g}×) |")
    print(f"| parse ÷ download with requests (median) | {med_parse / med_requests:.2f}× |")
    print(f"| peak RSS: simulator / this process | {server_rss:.0f} MB / {client_rss:.0f} MB |")
    # Both sides slow down on a busy machine, the two-process download more than the parse.
    load = f"{load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    print(f"| load average, before / after | {load} |")
    return 0 if ratio >= args.min_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
