"""Versioned DDL: sql/NNN_name.sql files applied in order, tracked in schema_migrations.

A file `NNN_name.<dialect>.sql` (dialect as SQLAlchemy names it: duckdb, postgresql,
sqlite) replaces `NNN_name.sql` for that dialect only. Statements are split on `;`
outside quotes and comments; dollar quoting is not supported. Statements run through
SQLAlchemy `text()`, so a `:word` outside a string literal would be read as a bind
parameter: the files never need one.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, text

from nudge_pipeline.warehouse.errors import MigrationError


def _default_migrations_dir() -> Path:
    # A wheel ships the top-level sql/ inside the package, as nudge_pipeline/sql; a source
    # checkout reads it from the repository root.
    package = Path(__file__).resolve().parents[1]
    packaged = package / "sql"
    return packaged if packaged.is_dir() else package.parent / "sql"


DEFAULT_MIGRATIONS_DIR = _default_migrations_dir()

_FILE_NAME = re.compile(
    r"^(?P<version>\d+)_(?P<name>[a-z0-9_]+)(?:\.(?P<dialect>[a-z0-9]+))?\.sql$"
)

# Arbitrary constant: the key of the PostgreSQL advisory lock that serialises migrations.
_PG_MIGRATION_LOCK_KEY = 7_310_226_401

_CREATE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS nudgescribe"
_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS nudgescribe.schema_migrations (
    version INTEGER NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path | None  # None: only other dialects have a file for this version
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path, dialect: str) -> list[Migration]:
    """The migrations for `dialect`, ordered by version."""
    by_version: dict[int, dict[str | None, Path]] = defaultdict(dict)
    names: dict[int, str] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: expected NNN_name.sql or NNN_name.<dialect>.sql")
        version = int(match["version"])
        name = match["name"]
        if names.setdefault(version, name) != name:
            raise MigrationError(f"version {version} has two names: {names[version]}, {name}")
        by_version[version][match["dialect"]] = path
    migrations = []
    for version in sorted(by_version):
        variants = by_version[version]
        chosen = variants.get(dialect, variants.get(None))
        sql = chosen.read_text(encoding="utf-8") if chosen is not None else ""
        migrations.append(Migration(version, names[version], chosen, sql))
    return migrations


def split_statements(sql: str) -> list[str]:
    """Split a script on `;` that lie outside quotes and comments; drop empty statements."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote escapes itself
                        end += 2
                        continue
                    break
                end += 1
            current.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end + 1
            current.append("\n")
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
            current.append(" ")
        elif ch == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def applied_versions(conn: Connection) -> dict[int, str]:
    """Applied version -> checksum; empty when the version table does not exist yet."""
    rows = conn.execute(
        text("SELECT version, checksum FROM nudgescribe.schema_migrations ORDER BY version")
    )
    return {int(version): str(checksum) for version, checksum in rows}


def apply(conn: Connection, migrations: list[Migration]) -> list[int]:
    """Apply the pending migrations inside the caller's transaction; return their versions.

    The caller holds whatever lock keeps two migrators apart (file lock for DuckDB).
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY})
    if dialect != "sqlite":  # SQLite's schema is an ATTACHed database, see engine.py
        conn.execute(text(_CREATE_SCHEMA))
    conn.execute(text(_CREATE_VERSION_TABLE))
    done = applied_versions(conn)
    newly_applied = []
    for migration in migrations:
        label = migration.path.name if migration.path else f"version {migration.version}"
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise MigrationError(
                    f"{label} was changed after it was applied; add a new file instead"
                )
            continue
        for statement in split_statements(migration.sql):
            try:
                conn.execute(text(statement))
            except Exception as exc:
                raise MigrationError(f"{label} failed: {exc}") from exc
        conn.execute(
            text(
                "INSERT INTO nudgescribe.schema_migrations (version, name, checksum, applied_at)"
                " VALUES (:version, :name, :checksum, :applied_at)"
            ),
            {
                "version": migration.version,
                "name": migration.name,
                "checksum": migration.checksum,
                "applied_at": datetime.now(UTC),
            },
        )
        newly_applied.append(migration.version)
    return newly_applied
