"""CSV → Parquet benchmark: write_message_file against bare pyarrow.csv → ParquetWriter.

Both run on the same export CSVs (1M unique messages in 100 files) in the same process,
in alternating blocks of files; the ratio is the median of the rounds' ratios. Our
side includes the lake's durability barrier (``Lake.sync()``) after each block. Peak RSS
is measured in fresh interpreters on one big file. Exits with status 1 when the ratio
(target ≤1.2x) or the peak RSS (target < 300 MiB) is missed.

    .venv/bin/python bench/lake_bench.py [--files 100 --rows 10000 --rounds 5]
        [--fsync batched|each|off]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (  # noqa: E402
    child_peak_rss_mb,
    median,
    timed_with_cpu,
    write_export_csvs,
)

import nudge_pipeline.lake.messages as messages_module  # noqa: E402
from nudge_pipeline.lake import Lake, write_message_file  # noqa: E402
from nudge_pipeline.lake.durability import (  # noqa: E402
    DEFAULT_FSYNC,
    FSYNC_POLICIES,
    FsyncPolicy,
)

RATIO_TARGET = 1.2
RSS_TARGET_MIB = 300


def bare_convert(csv_path: Path, out_path: Path) -> int:
    """The baseline: what a minimal correct converter does, nothing more."""
    strings = {"customer_id": pa.string(), "message": pa.string()}
    reader = pacsv.open_csv(
        csv_path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=strings,
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    rows = 0
    with pq.ParquetWriter(out_path, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def ours(lake: Lake, csv_path: Path, file_num: int) -> int:
    with csv_path.open("rb") as stream:
        return write_message_file(lake, "bench", "run-1", file_num, stream, "job-1").row_count


def ours_block(lake: Lake, paths: list[Path], first_num: int) -> None:
    """Land a block of files the way the pipeline does: the durability barrier included."""
    for num, path in enumerate(paths, first_num):
        ours(lake, path, num)
    lake.sync()


def bare_block(paths: list[Path], out_dir: Path, first_num: int) -> None:
    for num, path in enumerate(paths, first_num):
        bare_convert(path, out_dir / f"{num}.parquet")


@dataclass
class RoundTimes:
    wall: dict[str, float] = field(default_factory=lambda: {"bare": 0.0, "ours": 0.0})
    cpu: dict[str, float] = field(default_factory=lambda: {"bare": 0.0, "ours": 0.0})

    def add(self, side: str, wall: float, cpu: float) -> None:
        self.wall[side] += wall
        self.cpu[side] += cpu


def run_round(paths: list[Path], work: Path, fsync: FsyncPolicy, block: int) -> RoundTimes:
    """Wall and CPU seconds of both sides, blocks of files converted both ways back to back.

    Pairing per block, in alternating order, keeps load from other processes on this
    machine from landing on one side only. Blocks rather than single files, so our
    background fsyncs overlap only our own work and their wait is counted on our side.
    """
    shutil.rmtree(work, ignore_errors=True)
    (work / "bare").mkdir(parents=True)
    lake = Lake(work / "ours", fsync=fsync)
    times = RoundTimes()
    for start in range(0, len(paths), block):
        chunk = paths[start : start + block]
        sides = [
            ("bare", lambda: bare_block(chunk, work / "bare", start)),  # noqa: B023
            ("ours", lambda: ours_block(lake, chunk, start)),  # noqa: B023
        ]
        for side, action in sides if (start // block) % 2 == 0 else reversed(sides):
            times.add(side, *timed_with_cpu(action))
    return times


def concat(paths: list[Path], target: Path) -> Path:
    if target.exists():
        return target
    with target.open("wb") as out:
        out.write(b"customer_id,message\n")
        for path in paths:
            with path.open("rb") as src:
                src.readline()
                shutil.copyfileobj(src, out)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block", type=int, default=10, help="files per timed block")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "nudge-bench"
    )
    parser.add_argument(
        "--fsync", choices=FSYNC_POLICIES, default=DEFAULT_FSYNC, help="our lake's fsync policy"
    )
    parser.add_argument(
        "--row-group-rows", type=int, help="override the writer's row group target (rows)"
    )
    args = parser.parse_args()

    if args.row_group_rows:
        messages_module.ROW_GROUP_ROWS = args.row_group_rows
    data = args.data_dir / f"csv-{args.files}x{args.rows}"
    paths = write_export_csvs(data, args.files, args.rows)
    total_mb = sum(p.stat().st_size for p in paths) / 2**20
    print(f"{args.files} files x {args.rows} rows, {total_mb:.0f} MiB of CSV")

    work = args.data_dir / "out"
    rounds: list[RoundTimes] = []
    run_round(paths[:10], work / "convert", args.fsync, args.block)  # warm-up, not counted
    for round_num in range(args.rounds):
        rounds.append(run_round(paths, work / "convert", args.fsync, args.block))
        wall, cpu = rounds[-1].wall, rounds[-1].cpu
        print(
            f"round {round_num + 1}: bare {wall['bare']:.2f}s  ours {wall['ours']:.2f}s   "
            f"(CPU bare {cpu['bare']:.2f}s  ours {cpu['ours']:.2f}s)"
        )
    bare_s = median([r.wall["bare"] for r in rounds])
    our_s = median([r.wall["ours"] for r in rounds])
    # Each round measures both sides side by side: the median of the rounds' ratios
    # cancels the drift of the machine's load between rounds.
    ratio = median([r.wall["ours"] / r.wall["bare"] for r in rounds])
    cpu_ratio = median([r.cpu["ours"] / r.cpu["bare"] for r in rounds])
    rows = args.files * args.rows
    print(
        f"CSV→Parquet median: bare {bare_s:.2f}s, ours {our_s:.2f}s ({rows / our_s:,.0f} rows/s); "
        f"ratio {ratio:.2f}x (median of rounds' ratios; of medians {our_s / bare_s:.2f}x; "
        f"target ≤{RATIO_TARGET}x; fsync {args.fsync}); CPU time ratio {cpu_ratio:.2f}x"
    )

    big = concat(paths, data / "one-big-file.csv")
    here = Path(__file__).resolve()
    imports = f"import sys; sys.path[:0] = [{str(here.parents[1])!r}, {str(here.parent)!r}]\n"
    out_dir = work / "rss"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    idle = child_peak_rss_mb(imports + "import lake_bench")
    bare_rss = child_peak_rss_mb(
        imports + f"import lake_bench; from pathlib import Path\n"
        f"lake_bench.bare_convert(Path({str(big)!r}), Path({str(out_dir / 'bare.parquet')!r}))"
    )
    our_rss = child_peak_rss_mb(
        imports + f"import lake_bench; from pathlib import Path\n"
        f"lake_bench.ours(lake_bench.Lake({str(out_dir)!r}), Path({str(big)!r}), 0)"
    )
    print(
        f"peak RSS, one {rows:,}-row file: ours {our_rss:.0f} MiB, bare {bare_rss:.0f} MiB, "
        f"interpreter+imports {idle:.0f} MiB (target < {RSS_TARGET_MIB} MiB)"
    )
    missed = []
    if ratio > RATIO_TARGET:
        missed.append(f"CSV→Parquet ratio {ratio:.2f}x > {RATIO_TARGET}x")
    if our_rss >= RSS_TARGET_MIB:
        missed.append(f"peak RSS {our_rss:.0f} MiB >= {RSS_TARGET_MIB} MiB")
    if missed:
        print("TARGET MISSED: " + "; ".join(missed))
        sys.exit(1)
    print("all targets met")


if __name__ == "__main__":
    main()
