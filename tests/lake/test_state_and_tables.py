from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from nudge_pipeline.arrow_rows import table_from_rows
from nudge_pipeline.lake import (
    Lake,
    LakeTableError,
    customers_path,
    export_state_path,
    read_table,
    snapshot_path,
    write_table,
)
from nudge_pipeline.lake.store import is_temp_name
from nudge_pipeline.landing.record import LandedFile, RunRecord, RunRecordStore, RunState

from .conftest import all_files


def test_run_record_round_trips_and_survives_a_new_process_view(lake: Lake) -> None:
    store = RunRecordStore(lake)
    assert store.get("c/1", "r%1") is None
    published = store.put(RunRecord("c/1", "r%1").moved(RunState.PUBLISHED, job_id="job-1"))
    landed = LandedFile(row_count=7, sha256="ab" * 32, byte_count=120, fetched_at="t")
    store.put(
        published.moved(RunState.FILES_LANDED, num_files=4, exported_at="e", files={2: landed})
    )

    again = RunRecordStore(Lake(lake.root)).get("c/1", "r%1")
    assert again is not None
    assert (again.state, again.job_id, again.num_files) == (RunState.FILES_LANDED, "job-1", 4)
    assert (again.campaign_id, again.run_id) == ("c/1", "r%1")
    assert again.files == {2: landed} and again.export_complete
    assert datetime.fromisoformat(again.updated_at).tzinfo is not None

    # One file per run, replaced in place: no temporary file is left beside it.
    path = lake.local_path(export_state_path("c/1", "r%1"))
    assert path.parent.name == "campaign_id=c%2F1" and path.name == "run_id=r%251.json"
    assert json.loads(path.read_text())["state"] == "files_landed"
    assert [p.name for p in all_files(Path(lake.root))] == [path.name]


def test_runs_do_not_share_records(lake: Lake) -> None:
    store = RunRecordStore(lake)
    store.put(RunRecord("c", "r1", job_id="a"))
    store.put(RunRecord("c", "r2", job_id="b"))
    assert store.get_or_new("c", "r1").job_id == "a"
    assert store.get_or_new("c", "r2").job_id == "b"
    assert store.get_or_new("c", "r3") == RunRecord("c", "r3")


def test_an_export_state_of_an_older_lake_reads_as_a_run_record(lake: Lake) -> None:
    old = {
        "campaign_id": "c",
        "run_id": "r",
        "job_id": "job-1",
        "num_files": 2,
        "status": "completed",
        "files": {"0": {"row_count": 3, "sha256": "cd" * 32}},
        "updated_at": "2024-05-01T10:00:00+00:00",
    }
    lake.write_bytes(export_state_path("c", "r"), json.dumps(old).encode())
    record = RunRecordStore(lake).get("c", "r")
    assert record is not None
    assert (record.state, record.job_id, record.num_files) == (RunState.FILES_LANDED, "job-1", 2)
    assert record.files == {0: LandedFile(row_count=3, sha256="cd" * 32, byte_count=0)}
    assert record.exported_at == "2024-05-01T10:00:00+00:00"

    lake.write_bytes(
        export_state_path("c", "r"), json.dumps({**old, "status": "processing"}).encode()
    )
    pending = RunRecordStore(lake).get("c", "r")
    assert pending is not None
    assert (pending.state, pending.job_id, pending.export_complete) == (
        RunState.PUBLISHED,
        "job-1",
        False,
    )


def test_a_record_stored_under_another_runs_name_is_refused(lake: Lake) -> None:
    lake.write_bytes(export_state_path("c", "r1"), RunRecord("c", "r2").to_json())
    with pytest.raises(ValueError, match="names another run"):
        RunRecordStore(lake).get("c", "r1")


def test_snapshots_store_typed_times_and_their_sync_time(lake: Lake) -> None:
    campaigns = table_from_rows(
        [
            {
                "campaign_id": "007",
                "start_date": "2024-05-03",
                "created_at": "2024-05-01T12:00:00+02:00",
            },
            {"campaign_id": "c1", "start_date": None, "created_at": "2024-05-01T10:00:00"},
        ],
        pa.schema(
            [("campaign_id", pa.string()), ("start_date", pa.string()), ("created_at", pa.string())]
        ),
    )
    rel = snapshot_path("campaigns", "20240501T100000123456Z")
    uri = write_table(lake, rel, campaigns, metadata={"nudge_pipeline.kind": "snapshot"})
    assert uri == str(lake.local_path(rel))
    stored = read_table(lake, rel)
    utc = pa.timestamp("us", tz="UTC")
    assert stored.schema.field("created_at").type == utc
    assert stored.schema.field("start_date").type == pa.date32()
    assert stored.schema.field("synced_at").type == utc
    sync = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    ten = datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert stored.to_pylist() == [
        {
            "campaign_id": "007",
            "start_date": date(2024, 5, 3),
            "created_at": ten,
            "synced_at": sync,
        },
        {"campaign_id": "c1", "start_date": None, "created_at": ten, "synced_at": sync},
    ]
    assert lake.parquet_file(rel).metadata.metadata[b"nudge_pipeline.kind"] == b"snapshot"
    got = duckdb.sql(
        f"SELECT synced_at, campaign_id FROM read_parquet('{lake.root}/campaigns/*/*.parquet', "
        "hive_partitioning=true) ORDER BY campaign_id"
    ).fetchall()
    assert got == [(sync, "007"), (sync, "c1")]


def test_snapshot_times_must_be_times(lake: Lake) -> None:
    rel = snapshot_path("campaigns", "20240501T100000000000Z")
    bad = pa.table({"updated_at": pa.array(["yesterday"])})
    with pytest.raises(LakeTableError, match="updated_at.*yesterday"):
        write_table(lake, rel, bad)
    with pytest.raises(ValueError, match="synced_at"):
        write_table(lake, rel, pa.table({"synced_at": pa.array(["2024-05-01T10:00:00Z"])}))
    assert not lake.exists(rel)


def test_customer_files_store_typed_times(lake: Lake) -> None:
    customers = pa.table(
        {
            "customer_id": ["0001"],
            "extended_profile": ['{"a": 1}'],
            "created_at": ["2024-05-01T10:00:00Z"],
            "created_by": ["NA"],
        }
    )
    rel = customers_path("g/1", 1, 3)
    write_table(lake, rel, customers)
    assert read_table(lake, rel).to_pylist() == [
        {
            "customer_id": "0001",
            "extended_profile": '{"a": 1}',
            "created_at": datetime(2024, 5, 1, 10, tzinfo=UTC),
            "created_by": "NA",
        }
    ]


def test_write_table_failure_publishes_nothing(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    rel = snapshot_path("campaigns", "20240501T100000000000Z")
    write_table(lake, rel, pa.table({"x": ["old"]}))

    def broken(self, table, row_group_size=None):
        raise OSError("disk full")

    monkeypatch.setattr("pyarrow.parquet.ParquetWriter.write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_table(lake, rel, pa.table({"x": ["new"]}))
    monkeypatch.undo()
    assert read_table(lake, rel).column("x").to_pylist() == ["old"]
    assert not any(is_temp_name(p.name) for p in all_files(Path(lake.root)))


def test_lake_roots(tmp_path: Path) -> None:
    assert Lake(tmp_path).root == str(tmp_path.resolve())
    assert Lake(f"file://{tmp_path}").is_local
    with pytest.raises(ValueError):
        Lake("gs://bucket/x")
    with pytest.raises(ValueError):
        Lake("s3://")
