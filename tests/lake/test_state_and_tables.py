from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from nudge_pipeline.lake import (
    ExportStateStore,
    Lake,
    customers_path,
    export_state_path,
    read_table,
    snapshot_path,
    write_table,
)
from nudge_pipeline.lake.store import is_temp_name

from .conftest import all_files


def test_export_state_round_trips_and_survives_a_new_process_view(lake: Lake) -> None:
    store = ExportStateStore(lake)
    assert store.get("c/1", "r%1") is None
    store.put("c/1", "r%1", {"job_id": "job-1", "num_files": None, "status": "processing"})
    store.update("c/1", "r%1", num_files=4, status="completed")

    again = ExportStateStore(Lake(lake.root)).get("c/1", "r%1")
    assert again is not None
    assert (again["job_id"], again["num_files"], again["status"]) == ("job-1", 4, "completed")
    assert (again["campaign_id"], again["run_id"]) == ("c/1", "r%1")
    assert datetime.fromisoformat(again["updated_at"]).tzinfo is not None

    path = lake.local_path(export_state_path("c/1", "r%1"))
    assert path.parent.name == "campaign_id=c%2F1" and path.name == "run_id=r%251.json"
    assert json.loads(path.read_text())["job_id"] == "job-1"
    assert [p.name for p in all_files(Path(lake.root))] == [path.name]

    assert store.delete("c/1", "r%1") is True
    assert store.get("c/1", "r%1") is None


def test_runs_do_not_share_state(lake: Lake) -> None:
    store = ExportStateStore(lake)
    store.put("c", "r1", {"job_id": "a", "num_files": 1, "status": "completed"})
    store.put("c", "r2", {"job_id": "b", "num_files": 2, "status": "completed"})
    assert store.get("c", "r1")["job_id"] == "a"
    assert store.get("c", "r2")["job_id"] == "b"


def test_write_table_snapshot_and_customers(lake: Lake) -> None:
    campaigns = pa.table({"campaign_id": ["c1", "007"], "campaign_name": ["A", "NA"]})
    rel = snapshot_path("campaigns", "2024-05-01T10:00:00Z")
    uri = write_table(lake, rel, campaigns, metadata={"nudge_pipeline.kind": "snapshot"})
    assert uri == str(lake.local_path(rel))
    assert read_table(lake, rel).equals(campaigns.replace_schema_metadata(None), True) or (
        read_table(lake, rel).to_pylist() == campaigns.to_pylist()
    )
    assert lake.parquet_file(rel).metadata.metadata[b"nudge_pipeline.kind"] == b"snapshot"
    got = duckdb.sql(
        f"SELECT synced_at, campaign_id FROM read_parquet('{lake.root}/campaigns/*/*.parquet', "
        "hive_partitioning=true, hive_types_autocast=false) ORDER BY campaign_id"
    ).fetchall()
    assert got == [("2024-05-01T10:00:00Z", "007"), ("2024-05-01T10:00:00Z", "c1")]

    customers = pa.table({"customer_id": ["0001"], "extended_profile": ['{"a": 1}']})
    crel = customers_path("g/1", 1, 3)
    write_table(lake, crel, customers)
    assert read_table(lake, crel).to_pylist() == customers.to_pylist()


def test_write_table_failure_publishes_nothing(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    rel = snapshot_path("campaigns", "s1")
    write_table(lake, rel, pa.table({"x": ["old"]}))

    def broken(self, table, row_group_size=None):
        raise OSError("disk full")

    monkeypatch.setattr("pyarrow.parquet.ParquetWriter.write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_table(lake, rel, pa.table({"x": ["new"]}))
    monkeypatch.undo()
    assert read_table(lake, rel).to_pylist() == [{"x": "old"}]
    assert not any(is_temp_name(p.name) for p in all_files(Path(lake.root)))


def test_lake_roots(tmp_path: Path) -> None:
    assert Lake(tmp_path).root == str(tmp_path.resolve())
    assert Lake(f"file://{tmp_path}").is_local
    with pytest.raises(ValueError):
        Lake("gs://bucket/x")
    with pytest.raises(ValueError):
        Lake("s3://")
