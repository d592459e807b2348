"""Shared drill fixtures: a migrated Dagster instance to copy, and a fresh one per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.drills.sync_drill import create_dagster_home_template, make_dagster_home


@pytest.fixture(scope="session")
def dagster_home_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance with the project's dagster.yaml, created once (its migrations take time)."""
    return create_dagster_home_template(tmp_path_factory.mktemp("dagster_home_template") / "home")


@pytest.fixture
def dagster_home(dagster_home_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template instance for this test."""
    return make_dagster_home(dagster_home_template, tmp_path / "dagster_home")
