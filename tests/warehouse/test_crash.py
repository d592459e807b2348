"""A load killed with SIGKILL inside its transaction leaves exactly the old partition."""

from __future__ import annotations

import signal
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from sqlalchemy import text

from nudge_pipeline.warehouse import MessageFileLoad, Warehouse
from tests.warehouse.messages_data import write_message_files
from tests.warehouse.processes import expect_line, loads_json, start_worker


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["mid-load", "after-insert"])
def test_sigkilled_load_leaves_exactly_the_old_partition(
    warehouse_url: str, tmp_path: Path, stage: str
) -> None:
    lake = tmp_path / "lake"
    with Warehouse(warehouse_url) as wh:
        wh.migrate()
        old = write_message_files(lake, "c", "r", files=2, rows_per_file=1_000, text="old")
        wh.replace_messages("c", "r", old)
    new = write_message_files(lake, "c", "r", files=4, rows_per_file=50_000, text="new")
    # mid-load streams through Arrow (a pyarrow filesystem), so DuckDB is mid-INSERT too.
    fs_root = str(lake) if stage == "mid-load" else ""
    if fs_root:
        new = [MessageFileLoad(f.file_num, Path(f.lake_path).name, f.row_count) for f in new]

    worker = start_worker("crash", warehouse_url, stage, loads_json(new), "c", "r", fs_root)
    expect_line(worker, "BLOCKED")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.returncode == -signal.SIGKILL

    with Warehouse(warehouse_url) as wh:
        with wh.engine.connect() as conn:
            counts = conn.execute(
                text(
                    "SELECT SUBSTR(message, 1, 4), COUNT(*) FROM nudgescribe.messages"
                    " WHERE campaign_id = 'c' AND run_id = 'r' GROUP BY 1"
                )
            ).all()
        assert [tuple(row) for row in counts] == [("old ", 2_000)]
        assert wh.file_count("c", "r") == 2
        # No lock or half-transaction is left behind: the next load goes through.
        filesystem = None
        if fs_root:
            filesystem = pafs.SubTreeFileSystem(fs_root, pafs.LocalFileSystem())
        assert wh.replace_messages("c", "r", new, filesystem=filesystem) == 200_000
        assert wh.file_count("c", "r") == 4
