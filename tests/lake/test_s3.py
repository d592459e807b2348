"""The lake against a real S3 API: moto in server mode on a free loopback port."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nudge_pipeline import read
from nudge_pipeline.arrow_rows import table_from_rows
from nudge_pipeline.lake import (
    Lake,
    LakeInputError,
    customers_path,
    existing_message_file,
    list_message_files,
    message_file_path,
    snapshot_path,
    sweep_orphans,
    write_message_file,
    write_table,
)
from nudge_pipeline.lake.migrate import migrate_layout
from nudge_pipeline.lake.paths import legacy_message_file_path
from nudge_pipeline.landing.record import RunRecord, RunRecordStore, RunState
from tests.fixtures.moto_s3 import aws_env, create_bucket, object_keys, s3_client

from .conftest import csv_bytes

BUCKET = "nudge-lake"


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 client of the module's S3 server, which the lake reaches through the
    standard AWS variables."""
    for name, value in aws_env(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    create_bucket(s3_endpoint, BUCKET)
    return s3_client(s3_endpoint)


@pytest.fixture
def s3_lake(s3: Any) -> tuple[Lake, str]:
    prefix = f"lake-{uuid.uuid4().hex[:8]}"
    return Lake(f"s3://{BUCKET}/{prefix}"), prefix


def _keys(client: Any, prefix: str) -> list[str]:
    """Object keys, without the empty folder markers pyarrow leaves after deletes."""
    return object_keys(client, BUCKET, prefix, folder_markers=False)


def test_message_file_lands_on_s3_and_reads_back(s3, s3_lake) -> None:
    lake, prefix = s3_lake
    rows = [["0007", "line\r\nbreak, 😀"], ["0008", "NA"], ["0009", ""]]
    data = csv_bytes(rows, bom=True)
    stats = write_message_file(lake, "c/1", "..", 2, io.BytesIO(data), "job")

    rel = message_file_path("c/1", "..", 2)
    assert _keys(s3, prefix) == [f"{prefix}/{rel}"]
    assert stats.uri == f"s3://{BUCKET}/{prefix}/{rel}"
    assert stats.sha256 == hashlib.sha256(data).hexdigest()
    assert lake.local_path(rel) is None
    table = lake.parquet_file(rel).read()
    assert table.select(["customer_id", "message"]).to_pylist() == [
        {"customer_id": c, "message": m} for c, m in rows
    ]
    assert set(table["campaign_id"].to_pylist()) == {"c/1"}
    assert existing_message_file(lake, "c/1", "..", 2) == stats
    assert list_message_files(lake, "c/1", "..") == [(2, rel)]


def test_failed_write_leaves_no_object(s3, s3_lake) -> None:
    lake, prefix = s3_lake
    with pytest.raises(LakeInputError):
        write_message_file(lake, "c", "r", 0, io.BytesIO(b"customer_id,message\n1,a\n2,b,c\n"), "j")
    assert _keys(s3, prefix) == []


def test_snapshots_state_and_orphan_sweep_on_s3(s3, s3_lake) -> None:
    lake, prefix = s3_lake
    rel = snapshot_path("campaigns", "2024-05-01T00:00:00Z")
    uri = write_table(lake, rel, pa.table({"campaign_id": ["c1", "c2"]}))
    assert uri == f"s3://{BUCKET}/{prefix}/{rel}"
    assert lake.parquet_file(rel).read().column("campaign_id").to_pylist() == ["c1", "c2"]

    store = RunRecordStore(lake)
    assert store.get("c/1", "r 1") is None
    store.put(RunRecord("c/1", "r 1", RunState.EXPORTED, job_id="j1", num_files=3, exported_at="t"))
    record = store.get("c/1", "r 1")
    assert record is not None and (record.job_id, record.num_files) == ("j1", 3)
    assert f"{prefix}/_state/exports/campaign_id=c%2F1/run_id=r%201.json" in _keys(s3, prefix)

    orphan = f"{prefix}/messages/c/r/.part-0.parquet.tmp-{'b' * 32}"
    s3.put_object(Bucket=BUCKET, Key=orphan, Body=b"partial")
    assert sweep_orphans(lake) == []
    assert sweep_orphans(lake, older_than_seconds=0) == [orphan.removeprefix(prefix + "/")]
    assert orphan not in _keys(s3, prefix)


def test_legacy_layout_on_s3_serves_the_pipeline_and_migrates(s3, s3_lake) -> None:
    lake, prefix = s3_lake
    write_message_file(lake, "0042", "007", 0, io.BytesIO(csv_bytes([["0001", "NA"]])), "j")
    legacy = legacy_message_file_path("0042", "007", 0)
    lake.move(message_file_path("0042", "007", 0), legacy)
    schema = pa.schema([("customer_id", pa.string()), ("created_at", pa.string())])
    customers = table_from_rows([{"customer_id": "0001", "created_at": "2024-05-01"}], schema)
    write_table(lake, customers_path("g", 1, 1), customers)  # no legacy folder to drop
    lake.move(customers_path("g", 1, 1), "customers/customer_group_id=g/part-1-1.parquet")
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{prefix}/campaigns/synced_at=20240501T000000000000Z/part-0.parquet",
        Body=_parquet_bytes(pa.table({"campaign_id": ["007"], "created_at": ["2024-05-01"]})),
    )

    stats = existing_message_file(lake, "0042", "007", 0)
    assert stats is not None and stats.lake_path == legacy
    assert list_message_files(lake, "0042", "007") == [(0, legacy)]

    report = migrate_layout(lake)
    assert (report.moved, report.superseded, report.snapshots) == (2, 0, 1)
    assert [k.removeprefix(prefix + "/") for k in _keys(s3, prefix)] == [
        "campaigns/20240501T000000000000Z/part-0.parquet",
        customers_path("g", 1, 1),
        message_file_path("0042", "007", 0),
    ]
    assert read.lake("messages", lake.root, campaign_id="0042")["customer_id"].tolist() == ["0001"]
    campaigns = read.lake("campaigns", lake.root)
    assert campaigns["campaign_id"].tolist() == ["007"]
    assert campaigns["synced_at"].tolist() == [pd.Timestamp("2024-05-01", tz="UTC")]
    assert read.lake("customers", lake.root)["customer_id"].tolist() == ["0001"]


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
