"""The lake against a real S3 API: moto in server mode on a free loopback port."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

import pyarrow as pa
import pytest

from nudge_pipeline.lake import (
    ExportStateStore,
    Lake,
    LakeInputError,
    existing_message_file,
    list_message_files,
    message_file_path,
    snapshot_path,
    sweep_orphans,
    write_message_file,
    write_table,
)
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

    store = ExportStateStore(lake)
    assert store.get("c", "r") is None
    store.put("c", "r", {"job_id": "j1", "num_files": 3, "status": "completed"})
    assert store.get("c", "r")["job_id"] == "j1"

    orphan = f"{prefix}/messages/campaign_id=c/run_id=r/.part-0.parquet.tmp-{'b' * 32}"
    s3.put_object(Bucket=BUCKET, Key=orphan, Body=b"partial")
    assert sweep_orphans(lake) == []
    assert sweep_orphans(lake, older_than_seconds=0) == [orphan.removeprefix(prefix + "/")]
    assert orphan not in _keys(s3, prefix)
