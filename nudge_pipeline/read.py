"""Warehouse tables and lake datasets as pandas DataFrames, for analysts.

    from nudge_pipeline import read

    read.table("campaign_run_summary", campaign_id="0042")
    read.lake("messages", campaign_id="0042", run_id="7")
    read.lake("campaigns")                  # the latest snapshot
    read.lake("campaigns", all_syncs=True)  # every snapshot, told apart by synced_at

Every column is Arrow-backed (``pd.ArrowDtype``): strings stay strings, so ids keep their
leading zeros and the texts "NA", "null", "None" and "" are never taken for missing values.
Keyword filters are equalities: ``column=value``, ``column=None`` (IS NULL) or
``column=[a, b]`` (any of them); several filters must all hold.

This is the only module of the package that imports pandas; the sync never imports it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from nudge_pipeline.lake import Lake, encode_id
from nudge_pipeline.lake import paths as lake_paths
from nudge_pipeline.warehouse import SNAPSHOT_TABLES
from nudge_pipeline.warehouse import engine as engines
from nudge_pipeline.warehouse.tables import ALL_TABLES, SCHEMA, VIEWS

# The defaults of `nudge-pipeline sync`, so that read finds what a sync run here wrote.
DEFAULT_WAREHOUSE_URL = "duckdb:///data/warehouse.duckdb"
DEFAULT_LAKE_ROOT = "data/lake"
WAREHOUSE_RELATIONS = frozenset(spec.name for spec in ALL_TABLES) | frozenset(VIEWS)
SNAPSHOTS = tuple(SNAPSHOT_TABLES)
LAKE_DATASETS = (lake_paths.MESSAGES, lake_paths.CUSTOMERS, *SNAPSHOTS)

UTC_MICROS = pa.timestamp("us", tz="UTC")
# PostgreSQL type oids of the warehouse's columns; other types are inferred from values.
_POSTGRES_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    114: pa.string(),  # json, read as its text
    700: pa.float32(),
    701: pa.float64(),
    1043: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: UTC_MICROS,
    3802: pa.string(),  # jsonb, read as its text
}
# The id columns that name each level of a dataset's folders (see lake.paths).
_FOLDER_IDS = {
    lake_paths.MESSAGES: ("campaign_id", "run_id"),
    lake_paths.CUSTOMERS: ("customer_group_id",),
}


# ------------------------------------------------------------------------- warehouse


def table(name: str, warehouse_url: str | None = None, **equals: Any) -> pd.DataFrame:
    """Rows of the warehouse table or view ``nudgescribe.<name>`` matching ``equals``.

    ``warehouse_url`` defaults to NUDGE_WAREHOUSE_URL, then ``duckdb:///data/warehouse.duckdb``.
    A DuckDB file is opened read-only.
    """
    if name not in WAREHOUSE_RELATIONS:
        raise ValueError(f"unknown warehouse table {name!r}; known: {sorted(WAREHOUSE_RELATIONS)}")
    url = warehouse_url or os.environ.get("NUDGE_WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL
    info = engines.create(_read_only(url))
    try:
        with info.engine.connect() as conn:
            source = sa.table(name, schema=SCHEMA)
            names = list(conn.execute(sa.select(sa.text("*")).select_from(source).limit(0)).keys())
            columns: dict[str, sa.ColumnClause[Any]] = {c: sa.column(c) for c in names}
            _check_filter_columns(equals, columns, f"{SCHEMA}.{name}")
            conditions = [_condition(columns[c], value) for c, value in equals.items()]
            query = sa.select(*columns.values()).select_from(source).where(*conditions)
            if info.dialect == "duckdb":
                arrow = _duckdb_arrow(conn, query)
            else:
                arrow = _rows_arrow(conn, query)
    finally:
        info.engine.dispose()
    return _frame(arrow)


def _read_only(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() != "duckdb" or parsed.database in (None, "", ":memory:"):
        return url
    if "access_mode" in parsed.query:
        return url
    # Read-only: a mistyped path fails instead of creating an empty database.
    return parsed.update_query_dict({"access_mode": "read_only"}).render_as_string(
        hide_password=False
    )


def _condition(column: sa.ColumnClause[Any], value: Any) -> sa.ColumnElement[bool]:
    if value is None:
        return column.is_(None)
    if _is_collection(value):
        return column.in_(list(value))
    return column == value


def _is_collection(value: Any) -> bool:
    return isinstance(value, list | tuple | set | frozenset)


def _check_filter_columns(equals: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    unknown = sorted(set(equals) - set(known))
    if unknown:
        raise ValueError(f"{where} has no column(s) {unknown}; it has {sorted(known)}")


def _duckdb_arrow(conn: Connection, query: sa.Select[Any]) -> pa.Table:
    result = conn.execute(query)
    with warnings.catch_warnings():
        # The copy it warns of is the price of going through SQLAlchemy's bound parameters.
        warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning)
        arrow: pa.Table = result.cursor.to_arrow_table()
        return arrow


def _rows_arrow(conn: Connection, query: sa.Select[Any]) -> pa.Table:
    driver = conn.connection.driver_connection
    adapters = getattr(driver, "adapters", None)
    if adapters is not None:  # psycopg: JSON as the server's text, not Python objects
        from psycopg.types.string import TextLoader

        for json_type in ("json", "jsonb"):
            adapters.register_loader(json_type, TextLoader)
    result = conn.execute(query)
    description = result.cursor.description if result.cursor is not None else []
    rows = result.fetchall()
    arrays = []
    for index, column in enumerate(description):
        values = [row[index] for row in rows]
        type_code = getattr(column, "type_code", None)
        known = _POSTGRES_TYPES.get(type_code) if isinstance(type_code, int) else None
        arrays.append(_array(values, known))
    return pa.Table.from_arrays(arrays, names=[column[0] for column in description])


def _array(values: list[Any], known: pa.DataType | None) -> pa.Array:
    if known is not None:
        return pa.array(values, known)
    inferred = pa.array(values)
    return inferred.cast(pa.string()) if pa.types.is_null(inferred.type) else inferred


# ------------------------------------------------------------------------------ lake


def lake(
    dataset: str, lake_root: str | None = None, *, all_syncs: bool = False, **equals: Any
) -> pd.DataFrame:
    """Rows of a lake dataset (messages, customers or a snapshot) matching ``equals``.

    ``lake_root`` defaults to NUDGE_LAKE_ROOT, then ``data/lake``; ``s3://`` roots work too.
    A snapshot gives its latest sync only, unless ``all_syncs`` or a ``synced_at`` filter
    is given. Filters are pushed down: a filter on ``campaign_id``, ``run_id`` or
    ``customer_group_id`` opens only those ids' folders, and the others skip row groups
    by their statistics.
    """
    if dataset not in LAKE_DATASETS:
        raise ValueError(f"unknown lake dataset {dataset!r}; known: {list(LAKE_DATASETS)}")
    the_lake = Lake(lake_root or os.environ.get("NUDGE_LAKE_ROOT") or DEFAULT_LAKE_ROOT)
    top = the_lake.list_dirs(dataset)
    if not top:
        raise FileNotFoundError(f"{the_lake.uri(dataset)} holds no {dataset} yet")
    _refuse_legacy(the_lake, dataset, top)
    if dataset in SNAPSHOTS:
        folders = [f for f in top if lake_paths.parse_sync_folder(_name(f)) is not None]
        if not all_syncs and "synced_at" not in equals:
            folders = folders[-1:]  # sync folders sort by time
    else:
        folders = _id_folders(the_lake, dataset, equals)
    files = [rel for folder in folders for rel in _parquet_files(the_lake, folder)]
    schema = None if files else _schema_of(the_lake, dataset, top)
    data = ds.dataset(
        [the_lake.fs_path(rel) for rel in files],
        schema=schema,
        filesystem=the_lake.fs,
        format="parquet",
    )
    _check_filter_columns(equals, data.schema.names, f"lake dataset {dataset}")
    return _frame(data.to_table(filter=_lake_filter(equals)))


def _name(folder: str) -> str:
    return folder.rsplit("/", 1)[-1]


def _refuse_legacy(the_lake: Lake, dataset: str, folders: list[str]) -> None:
    legacy = [_name(f) for f in folders if lake_paths.is_legacy_folder(_name(f))]
    if legacy:
        raise ValueError(
            f"{the_lake.uri(dataset)} holds folders of the legacy layout ({legacy[0]}, …); "
            f"move them first: python -m nudge_pipeline.lake.migrate {the_lake.root}"
        )


def _id_folders(the_lake: Lake, dataset: str, equals: Mapping[str, Any]) -> list[str]:
    """The dataset's deepest folders; for an id filtered on, only that id's folders."""
    level = [dataset]
    for column in _FOLDER_IDS[dataset]:
        wanted = _folder_names(equals[column]) if column in equals else None
        if wanted is None:
            level = [sub for parent in level for sub in the_lake.list_dirs(parent)]
        else:
            level = [f"{parent}/{name}" for parent in level for name in sorted(wanted)]
    return level


def _folder_names(value: Any) -> set[str] | None:
    """Folder names holding the rows that may match ``value``; None when any may."""
    values = list(value) if _is_collection(value) else [value]
    if not all(isinstance(v, str) and v for v in values):
        return None
    return {encode_id(v) for v in values}


def _parquet_files(the_lake: Lake, folder: str) -> list[str]:
    return [rel for rel in the_lake.list_files(folder) if rel.endswith(".parquet")]


def _first_file(the_lake: Lake, folder: str) -> str | None:
    files = _parquet_files(the_lake, folder)
    if files:
        return files[0]
    for sub in the_lake.list_dirs(folder):
        found = _first_file(the_lake, sub)
        if found is not None:
            return found
    return None


def _schema_of(the_lake: Lake, dataset: str, folders: list[str]) -> pa.Schema:
    """The dataset's schema, from any of its files (when no file matched a filter)."""
    for folder in folders:
        found = _first_file(the_lake, folder)
        if found is not None:
            return pq.read_schema(the_lake.fs_path(found), filesystem=the_lake.fs)
    raise FileNotFoundError(f"{the_lake.uri(dataset)} holds no {dataset} yet")


def _lake_filter(equals: Mapping[str, Any]) -> ds.Expression | None:
    conditions = []
    for name, value in equals.items():
        field = ds.field(name)
        if value is None:
            conditions.append(field.is_null())
        elif _is_collection(value):
            conditions.append(field.isin(list(value)))
        else:
            conditions.append(field == value)
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined


# ---------------------------------------------------------------------------- pandas


def _frame(arrow: pa.Table) -> pd.DataFrame:
    columns = []
    for column in arrow.columns:
        if isinstance(column.type, pa.ExtensionType):  # e.g. DuckDB's JSON: its text
            column = pa.chunked_array(
                [chunk.storage for chunk in column.chunks], column.type.storage_type
            )
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = pc.cast(column, pa.timestamp(column.type.unit, tz="UTC"))
        columns.append(column)
    arrow = pa.Table.from_arrays(columns, names=arrow.column_names)
    return arrow.to_pandas(types_mapper=pd.ArrowDtype)
