"""Warehouses at an older schema version, for upgrade tests."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text

from nudge_pipeline.warehouse import Warehouse
from nudge_pipeline.warehouse.migrations import DEFAULT_MIGRATIONS_DIR

_VERSION = re.compile(r"^(\d+)_")
ALL_VERSIONS = sorted(
    {int(m[1]) for p in DEFAULT_MIGRATIONS_DIR.glob("*.sql") if (m := _VERSION.match(p.name))}
)
NEXT_VERSION = ALL_VERSIONS[-1] + 1


def sql_dir_up_to(tmp_path: Path, version: int) -> Path:
    """A copy of sql/ holding only the files of versions up to `version`."""
    target = tmp_path / "sql"
    target.mkdir()
    for path in DEFAULT_MIGRATIONS_DIR.glob("*.sql"):
        match = _VERSION.match(path.name)
        if match and int(match[1]) <= version:
            shutil.copy(path, target / path.name)
    return target


def add_later_versions(sql_dir: Path) -> None:
    """Copy the files of sql/ that `sql_dir` lacks into it: the next release's upgrade."""
    for path in DEFAULT_MIGRATIONS_DIR.glob("*.sql"):
        if not (sql_dir / path.name).exists():
            shutil.copy(path, sql_dir / path.name)


def insert_rows(wh: Warehouse, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Plain INSERTs, as an older release's loaders left rows; `table` comes from tests."""
    columns = list(rows[0])
    statement = text(
        f"INSERT INTO nudgescribe.{table} ({', '.join(columns)})"
        f" VALUES ({', '.join(':' + c for c in columns)})"
    )
    with wh.engine.begin() as conn:
        conn.execute(statement, [dict(row) for row in rows])
