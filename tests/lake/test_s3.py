"""The lake against a real S3 API: moto in server mode on a free loopback port."""

from __future__ import annotations

import hashlib
import io
import socket
import uuid
from collections.abc import Iterator

import boto3
import pyarrow as pa
import pytest
from moto.server import ThreadedMotoServer

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

from .conftest import csv_bytes

BUCKET = "nudge-lake"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def s3_lake(s3) -> tuple[Lake, str]:
    prefix = f"lake-{uuid.uuid4().hex[:8]}"
    return Lake(f"s3://{BUCKET}/{prefix}"), prefix


def _keys(client, prefix: str) -> list[str]:
    """Object keys, without the empty ``…/`` directory markers pyarrow leaves after deletes."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    return sorted(key for key in keys if not key.endswith("/"))


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
    table = pa.Table.from_batches(list(lake.iter_batches(rel)))
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

    orphan = f"{prefix}/messages/c/r/.part-0.parquet.tmp-{'b' * 32}"
    s3.put_object(Bucket=BUCKET, Key=orphan, Body=b"partial")
    assert sweep_orphans(lake) == []
    assert sweep_orphans(lake, older_than_seconds=0) == [orphan.removeprefix(prefix + "/")]
    assert orphan not in _keys(s3, prefix)
