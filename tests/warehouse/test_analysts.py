"""The warehouse as analysts see it: docs/analysts.md's recipes and dictionary against real
DuckDB and PostgreSQL databases, typed profile values, run statuses, in-place upgrades."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import text

from nudge_pipeline.warehouse import InputError, MessageFileLoad, RunStatus, Warehouse
from nudge_pipeline.warehouse.profile_values import type_values
from nudge_pipeline.warehouse.tables import ALL_TABLES, VIEWS
from tests.fixtures.databases import scratch_postgres_database
from tests.warehouse.analysts_data import (
    EXPECTED,
    UNCASTABLE_IN_G1,
    customers,
    expected_lake_files,
    land,
    profile_values,
)
from tests.warehouse.analysts_doc import DIALECTS, dictionary, recipes
from tests.warehouse.messages_data import message_table, write_message_files
from tests.warehouse.schema_versions import (
    ALL_VERSIONS,
    add_later_versions,
    insert_rows,
    sql_dir_up_to,
)

README = Path(__file__).resolve().parents[2] / "README.md"
RECIPES = recipes()
DICTIONARY = dictionary()


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The data set of analysts_data.py landed once in DuckDB and once in PostgreSQL."""
    started = datetime.now(UTC)
    root = tmp_path_factory.mktemp("analysts")
    with scratch_postgres_database() as postgres_url:
        found: dict[str, Any] = {"started": started}
        for dialect, url in (
            ("duckdb", f"duckdb:///{root / 'wh.duckdb'}"),
            ("postgresql", postgres_url),
        ):
            lake_root = root / f"lake-{dialect}"
            with Warehouse(url) as wh:
                wh.migrate()
                land(wh, lake_root)
            found[dialect] = (url, lake_root)
        found["landed"] = datetime.now(UTC)
        yield found


def _plain(value: object) -> object:
    return float(value) if isinstance(value, Decimal) else value


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    with Warehouse(url) as wh, wh.engine.connect() as conn:
        return [tuple(_plain(v) for v in row) for row in conn.execute(text(sql))]


def test_the_doc_has_every_recipe_for_both_databases() -> None:
    names = {*EXPECTED, "freshness", "lake_files"}
    assert set(RECIPES) == names
    assert all(set(by_dialect) == set(DIALECTS) for by_dialect in RECIPES.values())


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("recipe", sorted(EXPECTED))
def test_recipe_answers_on_the_landed_data(
    landed: dict[str, Any], recipe: str, dialect: str
) -> None:
    url, _ = landed[dialect]
    assert _query(url, RECIPES[recipe][dialect]) == EXPECTED[recipe]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_lake_files_recipe_gives_each_files_full_path_and_sizes(
    landed: dict[str, Any], dialect: str
) -> None:
    url, lake_root = landed[dialect]
    rows = _query(url, RECIPES["lake_files"][dialect])
    assert rows == expected_lake_files(lake_root)
    assert all(Path(str(path)).is_file() for _, path, _, _ in rows)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_freshness_recipe_tells_when_each_kind_of_data_landed(
    landed: dict[str, Any], dialect: str
) -> None:
    url, _ = landed[dialect]
    rows = _query(url, RECIPES["freshness"][dialect])
    assert [row[0] for row in rows] == [
        "campaign_runs",
        "campaigns",
        "customers",
        "messages",
        "run_status",
    ]
    for source, landed_at, hours_ago in rows:
        assert isinstance(landed_at, datetime)
        assert landed["started"] <= landed_at <= landed["landed"], source
        assert isinstance(hours_ago, float)
        age = (datetime.now(UTC) - landed_at).total_seconds() / 3600
        assert 0 <= hours_ago <= age + 0.01, source


@pytest.mark.parametrize("dialect", DIALECTS)
def test_readme_queries_run_on_both_databases(landed: dict[str, Any], dialect: str) -> None:
    readme = README.read_text(encoding="utf-8")
    block = re.search(r"```sql\n(.*?)```", readme, re.S)
    assert block, "README.md has a sample SQL block"
    statements = [s.strip() for s in block[1].split(";") if s.strip()]
    url, _ = landed[dialect]
    assert _query(url, statements[0]) == EXPECTED["messages_per_run"]
    summary = _query(url, statements[1])
    assert len(summary) == 7  # every run of campaign_runs


# -- the data dictionary ---------------------------------------------------------------

_DUCKDB_COMMENTS = """
SELECT table_name, NULL, comment FROM duckdb_tables() WHERE schema_name = 'nudgescribe'
UNION ALL
SELECT view_name, NULL, comment FROM duckdb_views() WHERE schema_name = 'nudgescribe'
UNION ALL
SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = 'nudgescribe'
"""
_POSTGRES_COMMENTS = """
SELECT c.relname, NULL, obj_description(c.oid, 'pg_class')
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'nudgescribe' AND c.relkind IN ('r', 'v')
UNION ALL
SELECT c.relname, a.attname, col_description(c.oid, a.attnum)
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'nudgescribe' AND c.relkind IN ('r', 'v')
"""
# The type words of the dictionary, and what each database calls them.
_TYPES = {
    "text": {"varchar", "text"},
    "integer": {"integer"},
    "bigint": {"bigint"},
    "double": {"double", "double precision"},
    "boolean": {"boolean"},
    "date": {"date"},
    "timestamptz": {"timestamp with time zone"},
    "JSON": {"json", "jsonb"},
}


def _comments(url: str, dialect: str) -> dict[tuple[str, str | None], object]:
    """(table or view, column or None for the object itself) -> its comment."""
    rows = _query(url, _DUCKDB_COMMENTS if dialect == "duckdb" else _POSTGRES_COMMENTS)
    return {
        (str(table), None if col is None else str(col)): comment for table, col, comment in rows
    }


def _documented_comments() -> dict[tuple[str, str | None], object]:
    documented: dict[tuple[str, str | None], object] = {}
    for entry in DICTIONARY.values():
        documented[(entry.name, None)] = entry.comment
        for column, comment in entry.columns.items():
            documented[(entry.name, column)] = comment
    return documented


def test_the_dictionary_lists_every_table_view_and_column_of_the_code() -> None:
    tables = {spec.name: spec.column_names for spec in ALL_TABLES}
    for name, columns in tables.items():
        assert list(DICTIONARY[name].columns) == columns, name
        assert DICTIONARY[name].kind == "table"
    assert {n for n, e in DICTIONARY.items() if e.kind == "view"} == set(VIEWS)
    assert set(DICTIONARY) == {*tables, *VIEWS, "schema_migrations"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_table_view_and_column_carries_its_dictionary_comment(
    landed: dict[str, Any], dialect: str
) -> None:
    url, _ = landed[dialect]
    in_database = _comments(url, dialect)
    assert all(comment for comment in in_database.values()), [
        key for key, comment in in_database.items() if not comment
    ]
    assert in_database == _documented_comments()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_dictionary_types_match_the_database(landed: dict[str, Any], dialect: str) -> None:
    url, _ = landed[dialect]
    rows = _query(
        url,
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'nudgescribe'",
    )
    for table, column, data_type in rows:
        documented = DICTIONARY[str(table)].types[str(column)]
        assert str(data_type).lower() in _TYPES[documented], (table, column, data_type)


# -- typed profile values ------------------------------------------------------------------

# (value, field_type): every rule's edges, typed by Python on load and by SQL on upgrade.
TYPING_CASES = [
    *((v, "number") for v in ["12", "-3.5", " 7 ", "+1e5", ".5", "5.", "1e-99", "1E+2"]),
    *((v, "number") for v in ["1e100", "1,5", "NaN", "inf", "", "12 pts", "0x10", "1_000"]),
    *((v, "number") for v in ["٣", "\t4", "1" * 100, "1" * 101, "--1", "1e"]),
    *((v, "boolean") for v in ["true", "FALSE", " True ", "yes", "1", "t", ""]),
    *((v, "date") for v in ["2024-02-29", "2023-02-29", "2024-13-01", "0000-01-01"]),
    *((v, "date") for v in ["0001-01-01", "2024-1-01", " 2024-03-01 ", "9999-12-31"]),
    *((v, "date") for v in ["2024-03-01T00:00:00", "2024-04-31", "20240301", "2024-00-10"]),
    (None, "number"),
    ("12", "string"),
    ("true", "enum"),
    ("2024-01-01", None),
]


def test_typing_rules_cast_strictly_and_count_what_does_not_cast() -> None:
    values = pa.array([v for v, _ in TYPING_CASES], pa.string())
    field_types = pa.array([t for _, t in TYPING_CASES], pa.string())
    typed = type_values(values, field_types)
    numbers = [v for v, t in TYPING_CASES if t == "number" and v is not None]
    number = dict(zip(numbers, typed.value_number.to_pylist()[: len(numbers)], strict=True))
    assert number["12"] == 12.0 and number["-3.5"] == -3.5 and number[" 7 "] == 7.0
    assert number["+1e5"] == 1e5 and number[".5"] == 0.5 and number["5."] == 5.0
    assert number["1e-99"] == 1e-99 and number["1E+2"] == 100.0 and number["1" * 100] > 1e99
    for bad in ["1e100", "1,5", "NaN", "inf", "", "12 pts", "0x10", "1_000", "٣", "\t4"]:
        assert number[bad] is None, bad
    assert typed.value_number[TYPING_CASES.index(("1" * 101, "number"))].as_py() is None
    booleans = typed.value_boolean.to_pylist()
    assert [booleans[TYPING_CASES.index((v, "boolean"))] for v in ["true", "FALSE", " True "]] == [
        True,
        False,
        True,
    ]
    days = typed.value_date.to_pylist()
    assert days[TYPING_CASES.index(("2024-02-29", "date"))] == date(2024, 2, 29)
    assert days[TYPING_CASES.index((" 2024-03-01 ", "date"))] == date(2024, 3, 1)
    assert days[TYPING_CASES.index(("0001-01-01", "date"))] == date(1, 1, 1)
    castable = sum(
        1
        for column in (typed.value_number, typed.value_boolean, typed.value_date)
        for v in column.to_pylist()
        if v is not None
    )
    typed_rules = [(v, t) for v, t in TYPING_CASES if t in ("number", "boolean", "date")]
    assert typed.uncastable == sum(1 for v, _ in typed_rules if v is not None) - castable
    assert typed.uncastable == 25  # 13 numbers, 4 booleans, 8 dates


def test_replace_customers_types_values_and_returns_the_uncastable_count(
    warehouse: Warehouse,
) -> None:
    loaded = warehouse.replace_customers(
        "g-1",
        customers("w-1", {"001": '{"a": 1}', "002": "{}"}),
        profile_values(
            [
                ("001", "points", "42", "number", False),
                ("001", "vip", "no", "boolean", False),
                ("001", "born", "1990-05-17", "date", True),
                ("002", "points", "n/a", "number", False),
                ("002", "note", "hello", "string", False),
            ]
        ),
    )
    assert (loaded.customers, loaded.profile_values, loaded.uncastable_profile_values) == (2, 5, 2)
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT customer_id, field_name, value, workspace_id, value_number,"
                " value_boolean, value_date, is_encrypted"
                " FROM nudgescribe.customer_profile_values ORDER BY customer_id, field_name"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("001", "born", "1990-05-17", "w-1", None, None, date(1990, 5, 17), True),
        ("001", "points", "42", "w-1", 42.0, None, None, False),
        ("001", "vip", "no", "w-1", None, None, None, False),
        ("002", "note", "hello", "w-1", None, None, None, False),
        ("002", "points", "n/a", "w-1", None, None, None, False),
    ]
    with pytest.raises(InputError, match="derived from value"):
        warehouse.replace_customers(
            "g-1",
            customers("w-1", {"001": "{}"}),
            profile_values([("001", "points", "1", "number", False)]).append_column(
                "value_number", pa.array([1.0])
            ),
        )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_customer_profiles_has_one_row_per_value_even_for_a_field_defined_twice(
    landed: dict[str, Any], dialect: str
) -> None:
    url, _ = landed[dialect]
    values = _query(
        url,
        "SELECT customer_group_id, customer_id, field_name"
        " FROM nudgescribe.customer_profile_values ORDER BY 1, 2, 3",
    )
    shown = _query(
        url,
        "SELECT customer_group_id, customer_id, field_name, field_id, is_encrypted"
        " FROM nudgescribe.customer_profiles ORDER BY 1, 2, 3",
    )
    assert [row[:3] for row in shown] == values and len(values) == 17
    by_key = {row[:3]: row[3:] for row in shown}
    # w-1 defines loyalty_points twice; the latest updated definition is shown.
    assert by_key[("g-1", "001", "loyalty_points")] == ("f-2", False)
    assert by_key[("g-2", "001", "loyalty_points")] == ("f-8", False)  # w-2's own field
    assert by_key[("g-1", "001", "email")] == ("f-6", True)
    assert by_key[("g-2", "010", "legacy_score")] == (None, False)  # no definition


def test_landing_reports_the_uncastable_values(tmp_path: Path) -> None:
    with Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}") as wh:
        wh.migrate()
        land(wh, tmp_path / "lake")
        again = wh.replace_customers(
            "g-1",
            customers("w-1", {"002": "{}"}),
            profile_values(
                [
                    ("002", "loyalty_points", "12 pts", "number", False),
                    ("002", "is_vip", "yes", "boolean", False),
                    ("002", "signup_date", "2024-02-30", "date", False),
                ]
            ),
        )
    assert again.uncastable_profile_values == UNCASTABLE_IN_G1


# -- run statuses --------------------------------------------------------------------------


def _statuses(wh: Warehouse) -> list[tuple[object, ...]]:
    with wh.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT campaign_id, run_id, load_status, load_reason, last_attempt_at,"
                " export_job_id FROM nudgescribe.campaign_run_status ORDER BY 1, 2"
            )
        ).all()
    return [tuple(r) for r in rows]


def test_record_run_statuses_upserts_many_at_once(warehouse: Warehouse) -> None:
    t1 = datetime(2024, 5, 1, 12, tzinfo=UTC)
    t2 = datetime(2024, 5, 2, 12, tzinfo=UTC)
    assert (
        warehouse.record_run_statuses(
            [
                RunStatus("c-1", "r-1", "pending", None, t1),
                RunStatus("c-1", "r-2", "failed", "ExportTimeout", t1, "job-9"),
            ]
        )
        == 2
    )
    written = warehouse.record_run_statuses(
        [
            RunStatus("c-1", "r-2", "loaded", None, t2, "job-10"),
            RunStatus("c-2", "r-1", "skipped", "not Published", t2),
            RunStatus("c-2", "r-1", "skipped", "run failed", t2),  # the last one wins
        ]
    )
    assert written == 2
    assert _statuses(warehouse) == [
        ("c-1", "r-1", "pending", None, t1, None),
        ("c-1", "r-2", "loaded", None, t2, "job-10"),
        ("c-2", "r-1", "skipped", "run failed", t2, None),
    ]
    with warehouse.engine.connect() as conn:
        summary = conn.execute(
            text(
                "SELECT campaign_id, run_id, load_status, load_reason, last_attempt_at"
                " FROM nudgescribe.campaign_run_summary ORDER BY 1, 2"
            )
        ).all()
    assert [tuple(r) for r in summary] == [
        ("c-1", "r-1", "pending", None, t1),
        ("c-1", "r-2", "loaded", None, t2),
        ("c-2", "r-1", "skipped", "run failed", t2),
    ]


def test_record_run_statuses_writes_more_runs_than_one_statement_holds(
    warehouse: Warehouse,
) -> None:
    first = [RunStatus("c", f"r-{i:04d}", "pending") for i in range(1201)]
    assert warehouse.record_run_statuses(first) == 1201
    later = [RunStatus("c", f"r-{i:04d}", "loaded", export_job_id="j") for i in range(0, 1201, 2)]
    assert warehouse.record_run_statuses(later) == 601
    with warehouse.engine.connect() as conn:
        counts = conn.execute(
            text(
                "SELECT load_status, COUNT(*), COUNT(export_job_id)"
                " FROM nudgescribe.campaign_run_status GROUP BY load_status ORDER BY load_status"
            )
        ).all()
    assert [tuple(r) for r in counts] == [("loaded", 601, 601), ("pending", 600, 0)]


def test_record_run_statuses_refuses_bad_input_and_writes_nothing(warehouse: Warehouse) -> None:
    good = RunStatus("c-1", "r-1", "loaded")
    with pytest.raises(InputError, match="not one of"):
        warehouse.record_run_statuses([good, RunStatus("c-1", "r-2", "done")])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="naive"):
        warehouse.record_run_statuses(
            [good, RunStatus("c-1", "r-3", "loaded", None, datetime(2024, 1, 1))]
        )
    assert _statuses(warehouse) == []
    # The database holds the same rule for writers that bypass the method.
    with pytest.raises(Exception, match="(?i)check"), warehouse.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO nudgescribe.campaign_run_status"
                " (campaign_id, run_id, load_status, last_attempt_at)"
                " VALUES ('c', 'r', 'done', CURRENT_TIMESTAMP)"
            )
        )
    assert warehouse.record_run_statuses([]) == 0


def test_a_run_without_a_status_reads_pending(warehouse: Warehouse, tmp_path: Path) -> None:
    files = write_message_files(tmp_path, "c-1", "r-1", files=1, rows_per_file=2)
    warehouse.replace_messages("c-1", "r-1", files)
    with warehouse.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT load_status, load_reason, last_attempt_at, loaded_message_count"
                " FROM nudgescribe.campaign_run_summary"
            )
        ).one()
    assert tuple(row) == ("pending", None, None, 2)


# -- message files -------------------------------------------------------------------------


def test_message_files_record_both_sizes_and_a_path_relative_to_the_recorded_root(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    (old,) = write_message_files(tmp_path, "c-1", "r-1", files=1, rows_per_file=3)
    # A caller of the older interface: byte_count (the CSV bytes), the full path.
    warehouse.replace_messages("c-1", "r-1", [old])
    (new,) = write_message_files(tmp_path, "c-1", "r-2", files=1, rows_per_file=3)
    relative = Path(new.lake_path).relative_to(tmp_path).as_posix()
    load = MessageFileLoad(
        new.file_num,
        new.lake_path,
        3,
        lake_relpath=relative,
        csv_byte_count=77,
        parquet_byte_count=55,
    )
    warehouse.replace_messages("c-1", "r-2", [load], lake_root=str(tmp_path))
    warehouse.replace_messages("c-1", "r-2", [load], lake_root=str(tmp_path))  # same root
    with warehouse.engine.connect() as conn:
        files = conn.execute(
            text(
                "SELECT run_id, byte_count, csv_byte_count, parquet_byte_count, lake_path"
                " FROM nudgescribe.message_files ORDER BY run_id"
            )
        ).all()
        lake = conn.execute(text("SELECT lake_id, lake_root FROM nudgescribe.lake")).all()
    assert [tuple(r) for r in files] == [
        ("r-1", old.byte_count, old.byte_count, None, old.lake_path),
        ("r-2", 77, 77, 55, relative),
    ]
    assert [tuple(r) for r in lake] == [(1, str(tmp_path))]
    warehouse.replace_messages("c-1", "r-2", [load], lake_root="s3://bucket/lake")
    with warehouse.engine.connect() as conn:
        assert conn.execute(text("SELECT lake_root FROM nudgescribe.lake")).all() == [
            ("s3://bucket/lake",)
        ]


# -- upgrading a warehouse of the previous release -----------------------------------------

PREVIOUS_RELEASE = 3
_NEW_VERSIONS = [v for v in ALL_VERSIONS if v > PREVIOUS_RELEASE]
_LOADED = datetime(2024, 5, 1, tzinfo=UTC)


def _fill_previous_release(wh: Warehouse, lake_root: str) -> None:
    messages = message_table(
        "c-1", "r-1", 0, 3, extras=['{"segment": "vip"}', None, '{"a": [1, 2]}']
    ).to_pylist()
    insert_rows(wh, "messages", [{**m, "loaded_at": _LOADED} for m in messages])
    insert_rows(
        wh,
        "message_files",
        [
            {
                "campaign_id": "c-1",
                "run_id": "r-1",
                "file_num": n,
                "row_count": 3,
                "byte_count": 900 + n,
                "sha256": "ab",
                "lake_path": f"{lake_root}/messages/campaign_id=c-1/run_id=r-1/part-{n}.parquet",
                "export_job_id": "job-1",
                "fetched_at": _LOADED,
            }
            for n in range(2)
        ],
    )
    profiles = {"001": '{"email": "enc:v1:gAAA", "a/b~c": "enc:v1:x"}', "002": '{"email": "b@x"}'}
    insert_rows(
        wh,
        "customers",
        [
            {
                "customer_group_id": "g-1",
                "customer_id": cid,
                "workspace_id": "w-1",
                "extended_profile": profile,
                "synced_at": _LOADED,
            }
            for cid, profile in profiles.items()
        ],
    )
    insert_rows(
        wh,
        "customer_profile_values",
        [
            {
                "customer_group_id": "g-1",
                "customer_id": "001",
                "field_name": "email",
                "value": "a@x",
                "field_type": "string",
            },
            {
                "customer_group_id": "g-1",
                "customer_id": "001",
                "field_name": "a/b~c",
                "value": "v",
                "field_type": "string",
            },
            {
                "customer_group_id": "g-1",
                "customer_id": "002",
                "field_name": "email",
                "value": "b@x",
                "field_type": "string",
            },
        ]
        + [
            {
                "customer_group_id": "g-1",
                "customer_id": "002",
                "field_name": f"case-{i}",
                "value": value,
                "field_type": field_type,
            }
            for i, (value, field_type) in enumerate(TYPING_CASES)
        ],
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_warehouse_of_the_previous_release_is_upgraded_in_place(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("duckdb_url" if dialect == "duckdb" else "postgres_url")
    sql_dir = sql_dir_up_to(tmp_path, PREVIOUS_RELEASE)
    lake_root = "/data/lake"
    with Warehouse(url, migrations_dir=sql_dir) as wh:
        assert wh.migrate() == list(range(1, PREVIOUS_RELEASE + 1))
        _fill_previous_release(wh, lake_root)
        with wh.engine.connect() as conn:
            before = conn.execute(
                text(
                    "SELECT file_num, row_num, customer_id, message, extra"
                    " FROM nudgescribe.messages ORDER BY row_num"
                )
            ).all()
        add_later_versions(sql_dir)
        assert wh.migrate() == _NEW_VERSIONS

        with wh.engine.connect() as conn:
            types: dict[str, str] = dict(
                conn.execute(
                    text(
                        "SELECT table_name || '.' || column_name, lower(data_type)"
                        " FROM information_schema.columns WHERE table_schema = 'nudgescribe'"
                    )
                ).all()
            )
            after = conn.execute(
                text(
                    "SELECT file_num, row_num, customer_id, message, extra"
                    " FROM nudgescribe.messages ORDER BY row_num"
                )
            ).all()
            segment = "'$.segment'" if dialect == "duckdb" else "'segment'"
            segments = (
                conn.execute(
                    text(f"SELECT extra ->> {segment} FROM nudgescribe.messages ORDER BY row_num")
                )
                .scalars()
                .all()
            )
            files = conn.execute(
                text(
                    "SELECT lake_path, byte_count, csv_byte_count, parquet_byte_count"
                    " FROM nudgescribe.message_files ORDER BY file_num"
                )
            ).all()
            root = conn.execute(text("SELECT lake_root FROM nudgescribe.lake")).scalars().all()
            values = conn.execute(
                text(
                    "SELECT customer_id, field_name, workspace_id, is_encrypted, value_number,"
                    " value_boolean, value_date FROM nudgescribe.customer_profile_values"
                )
            ).all()
        json_type = "json" if dialect == "duckdb" else "jsonb"
        assert types["messages.extra"] == json_type
        assert types["customers.extended_profile"] == json_type
        assert types["campaign_messages.extra"] == json_type
        assert [tuple(r[:4]) for r in after] == [tuple(r[:4]) for r in before]
        assert [r[4] for r in after] == [{"segment": "vip"}, None, {"a": [1, 2]}]
        assert segments == ["vip", None, None]
        assert [tuple(r) for r in files] == [
            ("messages/campaign_id=c-1/run_id=r-1/part-0.parquet", 900, 900, None),
            ("messages/campaign_id=c-1/run_id=r-1/part-1.parquet", 901, 901, None),
        ]
        assert root == [lake_root]
        by_key = {(r[0], r[1]): tuple(r[2:]) for r in values}
        assert by_key[("001", "email")][:2] == ("w-1", True)
        assert by_key[("001", "a/b~c")][:2] == ("w-1", True)  # looked up by exact name
        assert by_key[("002", "email")][:2] == ("w-1", False)
        # The SQL typing of old rows agrees with the Python typing of new loads.
        typed = type_values(
            pa.array([v for v, _ in TYPING_CASES], pa.string()),
            pa.array([t for _, t in TYPING_CASES], pa.string()),
        )
        for i, case in enumerate(TYPING_CASES):
            expected = (
                typed.value_number[i].as_py(),
                typed.value_boolean[i].as_py(),
                typed.value_date[i].as_py(),
            )
            assert by_key[("002", f"case-{i}")][2:] == expected, case

        # The upgraded warehouse loads as a new one does.
        loads = write_message_files(tmp_path / "files", "c-1", "r-1", files=1, rows_per_file=2)
        assert wh.replace_messages("c-1", "r-1", loads) == 2
        assert wh.messages_key_enforced() == (dialect == "postgresql")
    assert _comments(url, dialect) == _documented_comments()
