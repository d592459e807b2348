from __future__ import annotations

from collections.abc import Iterator

import pytest

from nudge_pipeline.warehouse import Warehouse


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    """A migrated warehouse on DuckDB and on PostgreSQL."""
    with Warehouse(warehouse_url) as wh:
        wh.migrate()
        yield wh


@pytest.fixture(params=["duckdb", "postgresql", "sqlite"])
def any_warehouse(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    """A migrated warehouse on each of the three loader paths."""
    url = request.getfixturevalue(
        f"{'postgres' if request.param == 'postgresql' else request.param}_url"
    )
    with Warehouse(url) as wh:
        wh.migrate()
        yield wh
