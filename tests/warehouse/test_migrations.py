from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import text

from nudge_pipeline.warehouse import MigrationError, Warehouse
from nudge_pipeline.warehouse.migrations import DEFAULT_MIGRATIONS_DIR, split_statements
from nudge_pipeline.warehouse.tables import ALL_TABLES, VIEWS
from tests.warehouse.messages_data import message_table, write_message_files
from tests.warehouse.schema_versions import (
    ALL_VERSIONS,
    NEXT_VERSION,
    add_later_versions,
    insert_rows,
    sql_dir_up_to,
)


def _columns(wh: Warehouse, table: str) -> list[tuple[str, str]]:
    with wh.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'nudgescribe' AND table_name = :t"
                " ORDER BY ordinal_position"
            ),
            {"t": table},
        )
        return [(str(name), str(kind).lower()) for name, kind in rows]


def _sql_dir_copy(tmp_path: Path) -> Path:
    target = tmp_path / "sql"
    shutil.copytree(DEFAULT_MIGRATIONS_DIR, target)
    return target


def test_migrate_creates_every_table_and_view_as_designed(warehouse: Warehouse) -> None:
    for spec in ALL_TABLES:
        columns = _columns(warehouse, spec.name)
        assert [name for name, _ in columns] == spec.column_names, spec.name
        for name, kind in columns:
            if name.endswith("_at"):
                assert kind == "timestamp with time zone", (spec.name, name, kind)
    with warehouse.engine.connect() as conn:
        keys = conn.execute(
            text(
                "SELECT tc.table_name, kcu.column_name"
                " FROM information_schema.table_constraints AS tc"
                " JOIN information_schema.key_column_usage AS kcu"
                "   ON kcu.constraint_name = tc.constraint_name"
                "  AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name"
                " WHERE tc.table_schema = 'nudgescribe' AND tc.constraint_type = 'PRIMARY KEY'"
            )
        ).all()
        views = conn.execute(
            text(
                "SELECT table_name FROM information_schema.views"
                " WHERE table_schema = 'nudgescribe' ORDER BY table_name"
            )
        ).scalars()
        view_names = sorted(views)
    by_table: dict[str, set[str]] = {}
    for table_name, column in keys:
        by_table.setdefault(table_name, set()).add(column)
    for spec in ALL_TABLES:
        # DuckDB keeps messages' key without an index (sql/003_messages_without_index).
        unindexed = spec.name == "messages" and warehouse.dialect == "duckdb"
        assert by_table.get(spec.name) == (None if unindexed else set(spec.key)), spec.name
    assert view_names == sorted(VIEWS)


def test_migrate_is_idempotent_and_versioned(warehouse: Warehouse) -> None:
    assert warehouse.applied_migrations() == ALL_VERSIONS
    assert warehouse.migrate() == []
    assert warehouse.applied_migrations() == ALL_VERSIONS


def test_later_migration_adds_a_column_and_keeps_data(warehouse_url: str, tmp_path: Path) -> None:
    sql_dir = _sql_dir_copy(tmp_path)
    with Warehouse(warehouse_url, migrations_dir=sql_dir) as wh:
        assert wh.migrate() == ALL_VERSIONS
        wh.replace_snapshot(
            "customer_groups",
            pa.table(
                {
                    "customer_group_id": ["g1"],
                    "account_id": ["a"],
                    "workspace_id": ["w"],
                    "group_name": ["VIPs"],
                    "created_at": [None],
                    "updated_at": [None],
                    "created_by": [None],
                    "updated_by": [None],
                }
            ),
        )
        (sql_dir / f"{NEXT_VERSION:03d}_group_region.sql").write_text(
            "-- a later release\nALTER TABLE nudgescribe.customer_groups ADD COLUMN region TEXT;\n"
        )
        assert wh.migrate() == [NEXT_VERSION]
        assert wh.migrate() == []
        with wh.engine.connect() as conn:
            row = conn.execute(
                text("SELECT group_name, region FROM nudgescribe.customer_groups")
            ).one()
        assert tuple(row) == ("VIPs", None)
        assert wh.applied_migrations() == [*ALL_VERSIONS, NEXT_VERSION]


def test_dialect_specific_file_replaces_the_generic_one(warehouse_url: str, tmp_path: Path) -> None:
    sql_dir = _sql_dir_copy(tmp_path)
    (sql_dir / f"{NEXT_VERSION:03d}_marker.sql").write_text(
        "CREATE TABLE nudgescribe.marker_generic (x INTEGER);"
    )
    (sql_dir / f"{NEXT_VERSION:03d}_marker.postgresql.sql").write_text(
        "CREATE TABLE nudgescribe.marker_pg (x INTEGER);"
    )
    with Warehouse(warehouse_url, migrations_dir=sql_dir) as wh:
        wh.migrate()
        with wh.engine.connect() as conn:
            tables = set(
                conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables"
                        " WHERE table_schema = 'nudgescribe' AND table_name LIKE 'marker%'"
                    )
                ).scalars()
            )
    expected = {"marker_pg"} if wh.dialect == "postgresql" else {"marker_generic"}
    assert tables == expected


def test_changed_applied_file_is_refused(duckdb_url: str, tmp_path: Path) -> None:
    sql_dir = _sql_dir_copy(tmp_path)
    with Warehouse(duckdb_url, migrations_dir=sql_dir) as wh:
        wh.migrate()
        views = sql_dir / "002_views.sql"
        views.write_text(views.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="002_views.sql was changed"):
            wh.migrate()


def test_failed_migration_applies_nothing(warehouse_url: str, tmp_path: Path) -> None:
    sql_dir = _sql_dir_copy(tmp_path)
    (sql_dir / f"{NEXT_VERSION:03d}_broken.sql").write_text(
        "CREATE TABLE nudgescribe.half_done (x INTEGER);\nTHIS IS NOT SQL;\n"
    )
    with Warehouse(warehouse_url, migrations_dir=sql_dir) as wh:
        with pytest.raises(MigrationError, match=f"{NEXT_VERSION:03d}_broken.sql failed"):
            wh.migrate()
        with wh.engine.connect() as conn:
            leftover = conn.execute(
                text(
                    "SELECT COUNT(*) FROM information_schema.tables"
                    " WHERE table_schema = 'nudgescribe'"
                )
            ).scalar_one()
    assert leftover == 0


def test_split_statements_ignores_semicolons_in_strings_and_comments() -> None:
    script = """
    -- a comment; with a semicolon and a quote '
    CREATE VIEW v AS SELECT 'a;b' AS x, "odd;name" AS y;  /* block; comment */
    INSERT INTO t VALUES ('it''s; fine');
    ;
    """
    assert split_statements(script) == [
        """CREATE VIEW v AS SELECT 'a;b' AS x, "odd;name" AS y""",
        "INSERT INTO t VALUES ('it''s; fine')",
    ]


def test_duckdb_upgrade_drops_the_messages_index_and_keeps_the_rows(
    duckdb_url: str, tmp_path: Path
) -> None:
    sql_dir = sql_dir_up_to(tmp_path, 2)
    rows = [
        {**row, "loaded_at": datetime(2024, 5, 1, tzinfo=UTC)}
        for file_num in range(2)
        for row in message_table("c", "r", file_num, 5).to_pylist()
    ]
    with Warehouse(duckdb_url, migrations_dir=sql_dir) as wh:
        assert wh.migrate() == [1, 2]
        insert_rows(wh, "messages", rows)
        before = _messages(wh)
        add_later_versions(sql_dir)
        assert wh.migrate() == ALL_VERSIONS[2:]
        assert _messages(wh) == before
        assert not wh.messages_key_enforced()
        # The views still read the rebuilt table; a reload still replaces, never adds.
        with wh.engine.connect() as conn:
            shown = conn.execute(text("SELECT COUNT(*) FROM nudgescribe.campaign_messages"))
            assert shown.scalar_one() == 10
        files = write_message_files(tmp_path / "files", "c", "r", files=2, rows_per_file=5)
        assert wh.replace_messages("c", "r", files) == 10
        assert wh.message_count("c", "r") == 10


def _messages(wh: Warehouse) -> list[tuple[object, ...]]:
    with wh.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM nudgescribe.messages ORDER BY file_num, row_num"))
        return [tuple(row) for row in rows]
