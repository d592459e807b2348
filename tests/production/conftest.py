"""Production parts, started by the tests: a moto S3 server and a PostgreSQL-backed instance."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import pytest
import yaml
from moto.server import ThreadedMotoServer

from tests.fixtures.databases import PG_HOST, PG_PORT, PG_USER, scratch_postgres_database

DEPLOY_INSTANCE_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"
BUCKET = "nudge-production-lake"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A local S3 API (moto in server mode) with the lake bucket, on a free loopback port."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="production-test",
        aws_secret_access_key="production-test",
    )


def aws_env(endpoint: str) -> dict[str, str]:
    """The standard AWS variables a deployment sets; the lake reads nothing else."""
    return {
        "AWS_ACCESS_KEY_ID": "production-test",
        "AWS_SECRET_ACCESS_KEY": "production-test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def lake_keys(endpoint: str, prefix: str) -> list[str]:
    pages = (
        s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    )
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


@pytest.fixture
def instance_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the Dagster instance, dropped afterwards."""
    with scratch_postgres_database("nudge_dagster") as url:
        yield url.rsplit("/", 1)[1]


def write_production_instance(dagster_home: Path, api_pool_limit: int) -> None:
    """deploy/dagster.yaml as shipped, with a smaller API pool so parallel runs contend."""
    config = yaml.safe_load(DEPLOY_INSTANCE_YAML.read_text(encoding="utf-8"))
    config["concurrency"]["pools"]["default_limit"] = api_pool_limit
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


def instance_env(database: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads (trust auth: empty password)."""
    return {
        "DAGSTER_PG_HOST": PG_HOST,
        "DAGSTER_PG_PORT": str(PG_PORT),
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": database,
    }


@contextmanager
def opened_production_instance(
    home: Path, database: str, api_pool_limit: int, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """deploy/dagster.yaml in `home` on `database`, opened in this process too."""
    write_production_instance(home, api_pool_limit)
    for name, value in instance_env(database).items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        yield instance
    finally:
        instance.dispose()
