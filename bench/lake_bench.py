"""CSV → Parquet benchmark: write_message_file against bare pyarrow.csv → ParquetWriter.

Both run on the same export CSVs in the same process, alternating, and the medians of
several rounds are compared. Peak RSS is measured in fresh interpreters on one big file.

    .venv/bin/python bench/lake_bench.py [--files 100 --rows 10000 --rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import child_peak_rss_mb, median, timed, write_export_csvs  # noqa: E402

import nudge_pipeline.lake.messages as messages_module  # noqa: E402
from nudge_pipeline.lake import Lake, write_message_file  # noqa: E402


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


def run_round(paths: list[Path], work: Path, fsync: bool) -> tuple[float, float]:
    """Total seconds (bare, ours), each file converted both ways back to back.

    Pairing per file, in alternating order, keeps load from other processes on this
    machine from landing on one side only.
    """
    shutil.rmtree(work, ignore_errors=True)
    (work / "bare").mkdir(parents=True)
    lake = Lake(work / "ours", fsync=fsync)
    bare_total = our_total = 0.0
    for num, path in enumerate(paths):
        target = work / "bare" / f"{num}.parquet"
        if num % 2:
            our_total += timed(lambda: ours(lake, path, num))  # noqa: B023
            bare_total += timed(lambda: bare_convert(path, target))  # noqa: B023
        else:
            bare_total += timed(lambda: bare_convert(path, target))  # noqa: B023
            our_total += timed(lambda: ours(lake, path, num))  # noqa: B023
    return bare_total, our_total


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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "nudge-bench"
    )
    parser.add_argument("--no-fsync", action="store_true", help="skip fsync in our writer")
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
    bare_times: list[float] = []
    our_times: list[float] = []
    run_round(paths[:10], work / "convert", not args.no_fsync)  # warm-up, not counted
    for round_num in range(args.rounds):
        bare_s, our_s = run_round(paths, work / "convert", not args.no_fsync)
        bare_times.append(bare_s)
        our_times.append(our_s)
        print(f"round {round_num + 1}: bare {bare_times[-1]:.2f}s  ours {our_times[-1]:.2f}s")
    ratio = median(our_times) / median(bare_times)
    rows = args.files * args.rows
    print(
        f"CSV→Parquet median: bare {median(bare_times):.2f}s, ours {median(our_times):.2f}s "
        f"({rows / median(our_times):,.0f} rows/s); ratio {ratio:.2f}x (target ≤1.2x)"
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
        f"interpreter+imports {idle:.0f} MiB (target < 300 MiB)"
    )


if __name__ == "__main__":
    main()
