"""nudge_pipeline.read: warehouse tables and lake datasets as Arrow-backed DataFrames."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from nudge_pipeline import read
from nudge_pipeline.arrow_rows import table_from_rows
from nudge_pipeline.lake import (
    Lake,
    customers_path,
    message_dir,
    snapshot_path,
    write_message_file,
    write_table,
)
from nudge_pipeline.warehouse import SNAPSHOT_TABLES, MessageFileLoad, Warehouse
from tests.lake.conftest import csv_bytes

ARROW_STRING = pd.ArrowDtype(pa.string())
AWKWARD = ["NA", "null", "None", ""]
CAMPAIGN_SCHEMA = pa.schema(
    [("campaign_id", pa.string()), ("campaign_name", pa.string()), ("created_at", pa.string())]
)
ROWS = [["0001", "NA"], ["null", "null"], ["None", "None"], ["007", ""]]


def campaigns(names: list[str], schema: pa.Schema = CAMPAIGN_SCHEMA) -> pa.Table:
    rows = [
        {"campaign_id": f"00{n}", "campaign_name": name, "created_at": "2024-05-01T10:00:00Z"}
        for n, name in enumerate(names)
    ]
    return table_from_rows(rows, schema)


def warehouse_campaigns(names: list[str]) -> pa.Table:
    """Every column of the warehouse table, as text; those not named are NULL."""
    columns = [c for c in SNAPSHOT_TABLES["campaigns"].column_names if c != "synced_at"]
    return campaigns(names, pa.schema([(c, pa.string()) for c in columns]))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake", fsync="off")


def land_run(lake: Lake, campaign_id: str, run_id: str) -> list[MessageFileLoad]:
    data = csv_bytes([[*row, "007"] for row in ROWS], ["customer_id", "message", "segment"])
    stats = write_message_file(lake, campaign_id, run_id, 0, io.BytesIO(data), "j1")
    return [MessageFileLoad(0, stats.uri, stats.row_count, export_job_id="j1")]


@pytest.fixture
def filled_warehouse(warehouse_url: str, lake: Lake) -> str:
    with Warehouse(warehouse_url) as wh:
        wh.migrate()
        wh.replace_snapshot("campaigns", warehouse_campaigns(AWKWARD))
        for campaign_id, run_id in (("000", "007"), ("a'b; --", "r/1")):
            wh.replace_messages(campaign_id, run_id, land_run(lake, campaign_id, run_id))
    return warehouse_url


# ------------------------------------------------------------------------- read.table


def test_table_keeps_strings_and_leading_zeros(filled_warehouse: str) -> None:
    frame = read.table("campaigns", filled_warehouse)
    assert frame["campaign_id"].dtype == ARROW_STRING
    assert frame["campaign_name"].dtype == ARROW_STRING
    got = sorted(zip(frame["campaign_id"], frame["campaign_name"], strict=True))
    assert got == [("000", "NA"), ("001", "null"), ("002", "None"), ("003", "")]
    assert not frame["campaign_name"].isna().any()
    assert frame["created_at"].dtype == pd.ArrowDtype(pa.timestamp("us", tz="UTC"))
    assert set(frame["created_at"]) == {pd.Timestamp("2024-05-01T10:00:00Z")}


def test_table_filters_are_bound_values(filled_warehouse: str) -> None:
    one = read.table("campaigns", filled_warehouse, campaign_id="001")
    assert list(one["campaign_name"]) == ["null"]
    assert read.table("campaigns", filled_warehouse, campaign_name="").shape[0] == 1
    both = read.table("campaigns", filled_warehouse, campaign_id=["000", "002"])
    assert sorted(both["campaign_name"]) == ["NA", "None"]
    # A value that would break out of a quoted literal is just a value.
    assert read.table("campaigns", filled_warehouse, campaign_id="x' OR '1'='1").empty
    odd = read.table("messages", filled_warehouse, campaign_id="a'b; --", run_id="r/1")
    assert sorted(odd["customer_id"]) == sorted(cid for cid, _ in ROWS)
    # JSON columns come back as their text (jsonb would otherwise arrive as Python dicts).
    assert odd["extra"].dtype == ARROW_STRING
    assert {json.dumps(json.loads(text)) for text in odd["extra"]} == {'{"segment": "007"}'}
    assert read.table("campaigns", filled_warehouse, workspace_id=None).shape[0] == 4


def test_table_reads_views_with_their_columns(filled_warehouse: str) -> None:
    joined = read.table("campaign_messages", filled_warehouse, campaign_id="000")
    assert set(joined["campaign_name"]) == {"NA"}
    assert sorted(joined["message"]) == sorted(msg for _, msg in ROWS)
    assert joined["customer_id"].dtype == ARROW_STRING
    summary = read.table("campaign_run_summary", filled_warehouse, run_id="r/1")
    assert list(summary["campaign_id"]) == ["a'b; --"]
    assert list(summary["loaded_message_count"]) == [len(ROWS)]


def test_table_refuses_unknown_tables_and_columns(filled_warehouse: str) -> None:
    with pytest.raises(ValueError, match="unknown warehouse table"):
        read.table("campaigns; DROP TABLE x", filled_warehouse)
    with pytest.raises(ValueError, match="no column"):
        read.table("campaigns", filled_warehouse, **{"1=1 OR campaign_id": "x"})


def test_table_default_url_comes_from_the_environment(
    duckdb_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Warehouse(duckdb_url) as wh:
        wh.migrate()
        wh.replace_snapshot("campaigns", warehouse_campaigns(["only"]))
    monkeypatch.setenv("NUDGE_WAREHOUSE_URL", duckdb_url)
    assert list(read.table("campaigns")["campaign_name"]) == ["only"]


def test_table_never_creates_a_duckdb_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.duckdb"
    with pytest.raises(Exception, match="nowhere.duckdb"):
        read.table("campaigns", f"duckdb:///{missing}")
    assert not missing.exists()


# -------------------------------------------------------------------------- read.lake


def test_lake_messages_round_trip_with_filters(lake: Lake) -> None:
    for campaign_id, run_id in (("00123", "007"), ("00123", "008"), ("a/b", "007")):
        land_run(lake, campaign_id, run_id)
    every = read.lake("messages", lake.root)
    assert every.shape[0] == 3 * len(ROWS)
    assert every["customer_id"].dtype == ARROW_STRING
    assert not every["message"].isna().any()
    run = read.lake("messages", lake.root, campaign_id="00123", run_id="007")
    assert list(zip(run["customer_id"], run["message"], strict=True)) == [tuple(r) for r in ROWS]
    assert set(run["campaign_id"]) == {"00123"} and set(run["run_id"]) == {"007"}
    nas = read.lake("messages", lake.root, message="NA", run_id=["007", "008"])
    assert sorted(nas["campaign_id"]) == ["00123", "00123", "a/b"]
    assert read.lake("messages", lake.root, campaign_id="nobody").empty
    assert list(read.lake("messages", lake.root, campaign_id="nobody").columns) == list(
        every.columns
    )


def test_lake_filters_on_ids_open_only_those_folders(lake: Lake) -> None:
    land_run(lake, "good", "1")
    land_run(lake, "other", "1")
    # Unreadable, so reading it would fail: a filter on another id must not open it.
    (Path(lake.root) / message_dir("other", "1") / "part-0.parquet").write_bytes(b"not parquet")
    assert read.lake("messages", lake.root, campaign_id="good").shape[0] == len(ROWS)
    with pytest.raises(pa.ArrowInvalid):
        read.lake("messages", lake.root)


def test_lake_snapshots_give_the_latest_sync_unless_asked(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_table(lake, snapshot_path("campaigns", "20240501T100000000000Z"), campaigns(["old"]))
    write_table(lake, snapshot_path("campaigns", "20240502T100000000000Z"), campaigns(AWKWARD))
    monkeypatch.setenv("NUDGE_LAKE_ROOT", lake.root)
    latest = read.lake("campaigns")
    assert list(latest["campaign_name"]) == AWKWARD
    second = datetime(2024, 5, 2, 10, tzinfo=UTC)
    assert set(latest["synced_at"]) == {pd.Timestamp(second)}
    every = read.lake("campaigns", all_syncs=True)
    assert every.shape[0] == 1 + len(AWKWARD)
    first = read.lake("campaigns", synced_at=datetime(2024, 5, 1, 10, tzinfo=UTC))
    assert list(first["campaign_name"]) == ["old"]
    assert read.lake("campaigns", campaign_id="001")["campaign_name"].tolist() == ["null"]


def test_lake_customers_and_refusals(lake: Lake) -> None:
    schema = pa.schema([("customer_group_id", pa.string()), ("customer_id", pa.string())])
    for group in ("0042", "g/1"):
        rows = [{"customer_group_id": group, "customer_id": cid} for cid, _ in ROWS]
        write_table(lake, customers_path(group, 1, 1), table_from_rows(rows, schema))
    group = read.lake("customers", lake.root, customer_group_id="0042")
    assert sorted(group["customer_id"]) == sorted(cid for cid, _ in ROWS)
    assert group["customer_group_id"].dtype == ARROW_STRING
    with pytest.raises(ValueError, match="no column"):
        read.lake("customers", lake.root, nickname="x")
    with pytest.raises(ValueError, match="unknown lake dataset"):
        read.lake("../customers", lake.root)
    with pytest.raises(FileNotFoundError):
        read.lake("campaigns", lake.root)


def test_lake_refuses_a_legacy_layout_and_names_the_fix(lake: Lake) -> None:
    land_run(lake, "c", "r")
    root = Path(lake.root)
    (root / "messages" / "c" / "r").rename(root / "messages" / "c" / "run_id=r")
    (root / "messages" / "c").rename(root / "messages" / "campaign_id=c")
    with pytest.raises(ValueError, match="nudge_pipeline.lake.migrate"):
        read.lake("messages", lake.root)


# ------------------------------------------------------------------------ the sync path


def test_the_sync_path_never_imports_pandas(tmp_path: Path) -> None:
    # Imports, then the lake's writes: a message file with extra columns, and a snapshot
    # whose times need parsing value by value (no offset).
    code = f"""
import io, sys
import nudge_pipeline.definitions, nudge_pipeline.defs
from nudge_pipeline.arrow_rows import table_from_rows
from nudge_pipeline.lake import Lake, snapshot_path, write_message_file, write_table
import pyarrow as pa
lake = Lake({str(tmp_path / "lake")!r}, fsync="off")
csv = b"customer_id,message,segment\\n0001,NA,VIP\\n"
write_message_file(lake, "c", "r", 0, io.BytesIO(csv), "job")
schema = pa.schema([("campaign_id", pa.string()), ("created_at", pa.string())])
rows = [{{"campaign_id": "007", "created_at": "2024-05-01T10:00:00"}}]
rel = snapshot_path("campaigns", "20240501T100000000000Z")
write_table(lake, rel, table_from_rows(rows, schema))
print(sorted(m for m in sys.modules if m.split(".")[0] == "pandas"))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
    assert read.lake("messages", str(tmp_path / "lake"))["extra"].tolist() == ['{"segment": "VIP"}']
    # The check itself can see pandas: importing the analysts' module loads it.
    code = "import sys, nudge_pipeline.read; print('pandas' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "True"
