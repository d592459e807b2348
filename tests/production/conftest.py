"""Production parts, started by the tests: the lake bucket on S3 and a PostgreSQL instance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.fixtures.databases import dagster_pg_env
from tests.fixtures.moto_s3 import create_bucket, object_keys, s3_client

DEPLOY_INSTANCE_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"
BUCKET = "nudge-production-lake"


@pytest.fixture(scope="module")
def s3_endpoint(s3_endpoint: str) -> str:
    """The module's S3 server (tests/fixtures/moto_s3.py), with the lake bucket."""
    create_bucket(s3_endpoint, BUCKET)
    return s3_endpoint


def lake_keys(endpoint: str, prefix: str) -> list[str]:
    """Every key under `prefix`, folder markers included."""
    return object_keys(s3_client(endpoint), BUCKET, prefix, folder_markers=True)


def write_production_instance(dagster_home: Path, api_pool_limit: int) -> None:
    """deploy/dagster.yaml as shipped, with a smaller API pool so parallel runs contend."""
    config = yaml.safe_load(DEPLOY_INSTANCE_YAML.read_text(encoding="utf-8"))
    config["concurrency"]["pools"]["default_limit"] = api_pool_limit
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


@contextmanager
def opened_production_instance(
    home: Path, database: str, api_pool_limit: int, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """deploy/dagster.yaml in `home` on `database`, opened in this process too."""
    write_production_instance(home, api_pool_limit)
    for name, value in dagster_pg_env(database).items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        yield instance
    finally:
        instance.dispose()
