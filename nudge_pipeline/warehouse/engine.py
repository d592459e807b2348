"""SQLAlchemy engines per dialect, with the quirks each needs.

- PostgreSQL always goes through psycopg 3 (the COPY loader needs it).
- DuckDB connections are opened per unit of work and closed after it (NullPool): DuckDB
  lets no other process open the file while one holds it, so nothing is kept open. Memory
  and threads are bounded unless the URL says otherwise.
- SQLite has no schemas. The `nudgescribe` schema is a second database file ATTACHed on
  every connection: `<database>.nudgescribe` beside the main file (or in memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool, StaticPool

_MEMORY = ("", ":memory:")
# DuckDB's own defaults (80% of RAM, a thread per core) let its memory grow with the load:
# a 1M-row sync peaked at 540-590 MB, a 5M-row one far higher. At 64MB a 1M-row sync peaks
# 39 MB lower than at 128MB in the same time, and a 5M-row one 35 MB lower and faster
# (bench/README.md); DuckDB spills to its temp folder.
# Settings in the URL's query (duckdb:///file.duckdb?memory_limit=1GB) take precedence.
# Replaying a WAL that holds JSON columns made DuckDB try to download its (built-in) json
# extension; a warehouse must never reach out to the network.
# Without insertion order DuckDB inserts from its threads as rows come, instead of holding
# them back to keep their order: replacing a run of 1M rows took 0.8 s instead of 1.3-1.6 s,
# 5M 3.1 s instead of 6.2 s, for 9 MB more. Rows come back in the order a query's ORDER BY
# says, as SQL has it, not in the order they were inserted.
DUCKDB_DEFAULTS = {
    "memory_limit": "64MB",
    "threads": "2",
    "preserve_insertion_order": "false",
    "autoinstall_known_extensions": "false",
}


@dataclass(frozen=True)
class EngineInfo:
    engine: Engine
    dialect: str  # "duckdb", "postgresql", "sqlite" or another SQLAlchemy dialect name
    database_path: Path | None  # the file of a file-based DuckDB/SQLite database


def _normalise(url: URL) -> URL:
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    return url


def sqlite_schema_path(database: Path) -> Path:
    return database.with_name(database.name + ".nudgescribe")


def create(url_text: str) -> EngineInfo:
    url = _normalise(make_url(url_text))
    backend = url.get_backend_name()
    database = url.database or ""
    if backend == "duckdb":
        url = url.update_query_dict(
            {k: v for k, v in DUCKDB_DEFAULTS.items() if k not in url.query}
        )
        if database in _MEMORY:
            engine = create_engine(url, poolclass=StaticPool)
            return EngineInfo(engine, backend, None)
        return EngineInfo(create_engine(url, poolclass=NullPool), backend, Path(database))
    if backend == "sqlite":
        return _sqlite(url, database)
    return EngineInfo(create_engine(url, pool_pre_ping=True), backend, None)


def _sqlite(url: URL, database: str) -> EngineInfo:
    in_memory = database in _MEMORY
    schema_file = ":memory:" if in_memory else str(sqlite_schema_path(Path(database)))
    kwargs: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {}
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _attach_schema(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("ATTACH DATABASE ? AS nudgescribe", (schema_file,))
        cursor.close()

    return EngineInfo(engine, "sqlite", None if in_memory else Path(database))
