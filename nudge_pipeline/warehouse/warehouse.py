"""The Warehouse: migrations, atomic partition replaces, and the queries asset checks need."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from sqlalchemy import Connection, bindparam, text

from nudge_pipeline import crashpoints
from nudge_pipeline.arrow_rows import table_from_rows
from nudge_pipeline.warehouse import engine as engines
from nudge_pipeline.warehouse import migrations
from nudge_pipeline.warehouse.arrow_input import conform
from nudge_pipeline.warehouse.errors import InputError, LoadMismatchError
from nudge_pipeline.warehouse.loaders import loader_for
from nudge_pipeline.warehouse.loaders.base import MessageFileLoad
from nudge_pipeline.warehouse.locking import (
    exclusive_file_lock,
    is_duckdb_lock_conflict,
    retry_on_lock_conflict,
)
from nudge_pipeline.warehouse.profile_values import profile_value_rows
from nudge_pipeline.warehouse.run_status import LOAD_STATUSES, RunStatus
from nudge_pipeline.warehouse.tables import (
    CAMPAIGN_RUN_STATUS,
    CUSTOMER_PROFILE_VALUES,
    CUSTOMERS,
    MESSAGE_FILES,
    MESSAGES,
    SCHEMA,
    SNAPSHOT_TABLES,
    SnapshotName,
    TableSpec,
)

DEFAULT_LOCK_TIMEOUT = 3600.0
# file_nums per query of the duplicate-key scan.
_KEY_SCAN_FILES = 16
# The runs are numbered in a VALUES list, so the scan groups by small integers rather
# than two id strings a row (1M rows: 0.21 -> 0.12 s on DuckDB).
_DUPLICATE_KEYS = (
    "WITH runs (run_index, campaign_id, run_id) AS (VALUES {runs})"
    " SELECT run_index, COUNT(*) FROM ("
    " SELECT runs.run_index FROM nudgescribe.messages AS m JOIN runs"
    " ON m.campaign_id = runs.campaign_id AND m.run_id = runs.run_id"
    " WHERE m.file_num BETWEEN :first AND :last"
    " GROUP BY runs.run_index, m.file_num, m.row_num HAVING COUNT(*) > 1"
    ") AS duplicated GROUP BY run_index"
)
# Over every pair of the runs' ids: a wider range only means more (empty) windows.
_FILE_NUM_RANGE = (
    "SELECT MIN(file_num), MAX(file_num) FROM nudgescribe.messages"
    " WHERE campaign_id IN :campaign_ids AND run_id IN :run_ids"
)
_PRIMARY_KEY_COLUMNS = text(
    "SELECT kcu.column_name FROM information_schema.table_constraints AS tc"
    " JOIN information_schema.key_column_usage AS kcu"
    " ON kcu.constraint_schema = tc.constraint_schema"
    " AND kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name"
    " WHERE tc.table_schema = :schema AND tc.table_name = :table"
    " AND tc.constraint_type = 'PRIMARY KEY' ORDER BY kcu.ordinal_position"
)
# Rows per upsert statement: one statement per row took 3 ms a row on DuckDB.
_STATUS_ROWS_PER_STATEMENT = 500
_LAKE_ROOT = text("SELECT lake_root FROM nudgescribe.lake WHERE lake_id = 1")
_UPSERT_LAKE_ROOT = text(
    "INSERT INTO nudgescribe.lake (lake_id, lake_root, recorded_at)"
    " VALUES (1, :lake_root, :recorded_at)"
    " ON CONFLICT (lake_id) DO UPDATE SET lake_root = excluded.lake_root,"
    " recorded_at = excluded.recorded_at"
)
RunKey = tuple[str, str]  # (campaign_id, run_id)


@dataclass(frozen=True)
class RunLoad:
    """A campaign run's lake files, to replace its rows with."""

    campaign_id: str
    run_id: str
    files: Sequence[MessageFileLoad]


@dataclass(frozen=True)
class CustomersLoad:
    """What Warehouse.replace_customers wrote for one customer group."""

    customers: int
    profile_values: int
    # Values of number, boolean or date fields that did not read as one; they are kept
    # in `value` only (see profile_values.py).
    uncastable_profile_values: int


class Warehouse:
    """A warehouse reachable at a SQLAlchemy URL (duckdb:///, postgresql://, sqlite:///, ...)."""

    def __init__(
        self,
        url: str,
        *,
        migrations_dir: Path | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self._info = engines.create(url)
        self.dialect = self._info.dialect
        self.engine = self._info.engine
        self._migrations_dir = migrations_dir or migrations.DEFAULT_MIGRATIONS_DIR
        self._lock_timeout = lock_timeout
        self._loader = loader_for(self.dialect)
        path = self._info.database_path
        self._lock_path = (
            path.with_name(path.name + ".lock") if path and self.dialect == "duckdb" else None
        )
        self._held: Connection | None = None
        self._grouped = False  # inside transaction(): writes join its one transaction

    def __repr__(self) -> str:
        return f"Warehouse({self.engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    # -- connections ------------------------------------------------------------------

    def _connect(self) -> Connection:
        if self.dialect != "duckdb":
            return self.engine.connect()
        return retry_on_lock_conflict(
            self.engine.connect, self._lock_timeout, is_duckdb_lock_conflict
        )

    def _writer_lock(self) -> AbstractContextManager[Any]:
        if self._lock_path is None or self._held is not None:  # a session holds it already
            return nullcontext()
        return exclusive_file_lock(self._lock_path, self._lock_timeout)

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self._held is not None:
            yield self._held
            return
        with self._connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction; on DuckDB, also the cross-process writer lock."""
        if self._grouped:  # transaction() holds the connection and its transaction
            assert self._held is not None
            yield self._held
            return
        with self._writer_lock(), self._connection() as conn, conn.begin():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._connection() as conn:
            try:
                yield conn
            finally:
                # A held connection outlives the read: end the transaction it began.
                if conn.in_transaction() and not self._grouped:
                    conn.rollback()

    @contextmanager
    def session(self) -> Iterator[Warehouse]:
        """Keep one connection (and on DuckDB the writer lock) for a batch of work.

        Each write inside stays its own transaction. Without a session every call opens
        the database anew; on DuckDB that costs a file open and a checkpoint on close,
        30 ms a call, which dominated landing many small runs.
        """
        if self._held is not None:
            yield self
            return
        with self._writer_lock(), self._connect() as conn:
            self._held = conn
            try:
                yield self
            finally:
                self._held = None

    @contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """Make the writes inside one transaction: one commit, and all of them land or none.

        Each commit is a durable flush (DuckDB's WAL, PostgreSQL's), so grouping the loads
        of many small runs saves one per run. Reads inside see the writes made so far.
        """
        with self.session():
            if self._grouped:
                yield self
                return
            assert self._held is not None
            with self._held.begin():
                self._grouped = True
                try:
                    yield self
                finally:
                    self._grouped = False

    # -- DDL --------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply pending sql/ files in one transaction; return the versions applied."""
        pending = migrations.discover(self._migrations_dir, self.dialect)
        with self._write() as conn:
            return migrations.apply(conn, pending)

    def applied_migrations(self) -> list[int]:
        with self._read() as conn:
            return sorted(migrations.applied_versions(conn))

    # -- loads ------------------------------------------------------------------------

    def replace_messages(
        self,
        campaign_id: str,
        run_id: str,
        files: Sequence[MessageFileLoad],
        *,
        filesystem: pafs.FileSystem | None = None,
        lake_root: str | None = None,
    ) -> int:
        """Replace a campaign run's messages and message_files rows in one transaction.

        Raises LoadMismatchError (and keeps the old rows) when a file yields a different
        number of rows than its `row_count`. Returns the number of messages loaded.
        `lake_root`, when given, is recorded in nudgescribe.lake as the root that the
        files' `lake_relpath` are relative to.
        """
        run = RunLoad(campaign_id, run_id, files)
        loaded = self.replace_runs([run], filesystem=filesystem, lake_root=lake_root)
        return loaded[(campaign_id, run_id)]

    def replace_runs(
        self,
        runs: Sequence[RunLoad],
        *,
        filesystem: pafs.FileSystem | None = None,
        lake_root: str | None = None,
    ) -> dict[RunKey, int]:
        """`replace_messages` for many runs in one transaction: all of them land or none.

        The statements that do not depend on a run's files (deleting old rows, the
        message_files rows, the lake root) are made once for all the runs, not once each.
        """
        keys = sorted((r.campaign_id, r.run_id) for r in runs)
        if len(set(keys)) != len(keys):
            raise InputError("a campaign run is listed twice")
        for run in runs:
            file_nums = [f.file_num for f in run.files]
            if len(set(file_nums)) != len(file_nums):
                raise InputError(
                    f"campaign {run.campaign_id} run {run.run_id}: file_num listed twice"
                )
        loaded_at = datetime.now(UTC)
        loaded: dict[RunKey, int] = {}
        with self._write() as conn:
            for key in keys:  # in one order, so two batches never wait on each other
                self._lock_partition(conn, "messages", *key)
            for campaign_id, run_id in self._runs_with_rows(conn, keys):
                for spec in (MESSAGES, MESSAGE_FILES):
                    conn.execute(
                        text(
                            f"DELETE FROM {spec.qualified_name} "
                            "WHERE campaign_id = :campaign_id AND run_id = :run_id"
                        ),
                        {"campaign_id": campaign_id, "run_id": run_id},
                    )
            for run in runs:
                constants = {"campaign_id": run.campaign_id, "run_id": run.run_id}
                counts = self._loader.insert_message_files(
                    conn, run.files, {**constants, "loaded_at": loaded_at}, filesystem
                )
                crashpoints.reached(crashpoints.MID_WAREHOUSE_LOAD)
                _check_counts(run, counts)
                loaded[(run.campaign_id, run.run_id)] = sum(counts.values())
            self._insert(conn, MESSAGE_FILES, _message_files_table(runs), {})
            if lake_root is not None:
                _record_lake_root(conn, lake_root)
        return loaded

    def _runs_with_rows(self, conn: Connection, keys: Sequence[RunKey]) -> list[RunKey]:
        """Which of these runs have rows to delete: one query for the whole batch, so a
        batch of new runs costs no DELETE at all."""
        found = _runs_in(conn, keys, ((MESSAGES, ""), (MESSAGE_FILES, "")))
        return [key for key in keys if key in found]

    def record_run_statuses(self, statuses: Sequence[RunStatus]) -> int:
        """Insert or update the load status of many runs, in one transaction.

        A run listed twice keeps its last status. Returns the number of runs written.
        """
        now = datetime.now(UTC)
        rows: dict[RunKey, dict[str, Any]] = {}
        for status in statuses:
            if status.load_status not in LOAD_STATUSES:
                raise InputError(
                    f"campaign {status.campaign_id} run {status.run_id}: load_status"
                    f" {status.load_status!r} is not one of {', '.join(LOAD_STATUSES)}"
                )
            attempt = status.last_attempt_at or now
            if attempt.tzinfo is None:
                raise InputError("RunStatus.last_attempt_at: naive timestamps are ambiguous")
            rows[(status.campaign_id, status.run_id)] = {
                "campaign_id": status.campaign_id,
                "run_id": status.run_id,
                "load_status": status.load_status,
                "load_reason": status.load_reason,
                "last_attempt_at": attempt.astimezone(UTC),
                "export_job_id": status.export_job_id,
            }
        if not rows:
            return 0
        pending = list(rows.values())
        with self._write() as conn:
            for start in range(0, len(pending), _STATUS_ROWS_PER_STATEMENT):
                chunk = pending[start : start + _STATUS_ROWS_PER_STATEMENT]
                statement, params = _run_status_upsert(chunk)
                conn.execute(statement, params)
        return len(rows)

    def replace_snapshot(
        self, table_name: SnapshotName, rows: pa.Table, *, synced_at: datetime | None = None
    ) -> int:
        """Replace every row of a snapshot table with `rows` in one transaction.

        `rows` holds the table's columns by name (see tables.py); synced_at may be absent.
        """
        spec = SNAPSHOT_TABLES.get(table_name)
        if spec is None:
            raise InputError(f"{table_name!r} is not a snapshot table")
        data = conform(rows, spec, {"synced_at": synced_at or datetime.now(UTC)})
        with self._write() as conn:
            self._lock_partition(conn, spec.name)
            conn.execute(text(f"DELETE FROM {spec.qualified_name}"))
            return self._insert(conn, spec, data, {})

    def replace_customers(
        self,
        customer_group_id: str,
        customers: pa.Table,
        profile_values: pa.Table | None = None,
        *,
        synced_at: datetime | None = None,
    ) -> CustomersLoad:
        """Replace one customer group's customers and profile values in one transaction.

        Without `profile_values` the group's old values are removed too, so values never
        outlive the customers they were read from. `profile_values` holds
        `customer_id, field_name, value, field_type` and may hold `customer_group_id`,
        `workspace_id` (else the customer's) and `is_encrypted`; the typed value columns
        are derived from `value` by `field_type` (profile_values.py).
        """
        group = {"customer_group_id": customer_group_id}
        data = conform(customers, CUSTOMERS, {**group, "synced_at": synced_at or datetime.now(UTC)})
        _check_single_group(data, customer_group_id, CUSTOMERS)
        values = None
        uncastable = 0
        if profile_values is not None:
            values, uncastable = profile_value_rows(profile_values, data, group)
            _check_single_group(values, customer_group_id, CUSTOMER_PROFILE_VALUES)
        with self._write() as conn:
            self._lock_partition(conn, "customers", customer_group_id)
            for spec in (CUSTOMER_PROFILE_VALUES, CUSTOMERS):
                conn.execute(
                    text(
                        f"DELETE FROM {spec.qualified_name} "
                        "WHERE customer_group_id = :customer_group_id"
                    ),
                    group,
                )
            count = self._insert(conn, CUSTOMERS, data, {})
            if values is not None:
                self._insert(conn, CUSTOMER_PROFILE_VALUES, values, {})
        return CustomersLoad(count, 0 if values is None else values.num_rows, uncastable)

    def _lock_partition(self, conn: Connection, *key: str) -> None:
        """Queue concurrent replaces of one partition on PostgreSQL.

        Without it the second of two concurrent replaces would not see (and so not delete)
        the rows the first inserted, and fail on the primary key. DuckDB writers already
        queue on the file lock; SQLite locks the whole database.
        """
        if self.dialect == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": "\x1f".join(key)},
            )

    def _insert(
        self, conn: Connection, spec: TableSpec, data: pa.Table, constants: Mapping[str, Any]
    ) -> int:
        columns = [name for name in spec.column_names if name not in constants]
        data = data.select(columns)
        if data.num_rows == 0:
            return 0
        return self._loader.insert_batches(
            conn, spec, data.schema, data.to_batches(max_chunksize=65_536), constants
        )

    # -- queries for asset checks -----------------------------------------------------

    def _scalar(self, sql: str, params: Mapping[str, Any]) -> int:
        with self._read() as conn:
            return int(conn.execute(text(sql), dict(params)).scalar_one() or 0)

    def _count_by_run(
        self, sql: str, runs: Sequence[RunKey], extra: Mapping[str, Any] | None = None
    ) -> dict[RunKey, int]:
        """Run `sql`, giving (campaign_id, run_id, count) rows, for many runs in one query.

        It filters on :campaign_ids and :run_ids (both lists), which an index on
        (campaign_id, run_id, ...) serves; pairs outside `runs` are dropped here.
        """
        if not runs:
            return {}
        statement, params = _for_runs(sql, runs)
        with self._read() as conn:
            rows = conn.execute(statement, {**params, **(extra or {})})
            found = {(c, r): int(n) for c, r, n in rows}
        return {run: found.get(run, 0) for run in runs}

    def message_counts(self, runs: Sequence[RunKey]) -> dict[RunKey, int]:
        return self._count_by_run(
            "SELECT campaign_id, run_id, COUNT(*) FROM nudgescribe.messages"
            " WHERE campaign_id IN :campaign_ids AND run_id IN :run_ids"
            " GROUP BY campaign_id, run_id",
            runs,
        )

    def loaded_runs(self, runs: Sequence[RunKey]) -> set[RunKey]:
        """Which of these runs this warehouse holds: a `loaded` status, or (loaded before
        statuses were kept) message_files rows."""
        with self._read() as conn:
            return _runs_in(
                conn, runs, ((CAMPAIGN_RUN_STATUS, "load_status = 'loaded'"), (MESSAGE_FILES, ""))
            )

    def message_count(self, campaign_id: str, run_id: str) -> int:
        return self.message_counts([(campaign_id, run_id)])[(campaign_id, run_id)]

    def file_count(self, campaign_id: str, run_id: str) -> int:
        return self._scalar(
            "SELECT COUNT(*) FROM nudgescribe.message_files "
            "WHERE campaign_id = :campaign_id AND run_id = :run_id",
            {"campaign_id": campaign_id, "run_id": run_id},
        )

    def file_row_count(self, campaign_id: str, run_id: str) -> int:
        """Sum of message_files.row_count: the rows the lake files declare."""
        return self._scalar(
            "SELECT COALESCE(SUM(row_count), 0) FROM nudgescribe.message_files "
            "WHERE campaign_id = :campaign_id AND run_id = :run_id",
            {"campaign_id": campaign_id, "run_id": run_id},
        )

    def duplicate_message_keys_by_run(self, runs: Sequence[RunKey]) -> dict[RunKey, int]:
        """Per run, the (file_num, row_num) pairs held by more than one of its messages.

        Keys of different file_nums never collide, so the scan takes a few file_nums at a
        time: its hash table holds their keys, not the whole run's (5M rows: 60 MB more).
        """
        found = dict.fromkeys(runs, 0)
        if not runs:
            return found
        numbered = list(found)
        # Only the numbers and placeholder names come from code; the ids are bound.
        scan = text(
            _DUPLICATE_KEYS.format(
                runs=", ".join(f"({i}, :campaign_{i}, :run_{i})" for i in range(len(numbered)))
            )
        )
        ids = {}
        for i, (campaign_id, run_id) in enumerate(numbered):
            ids[f"campaign_{i}"], ids[f"run_{i}"] = campaign_id, run_id
        statement, params = _for_runs(_FILE_NUM_RANGE, runs)
        with self._read() as conn:
            first, last = conn.execute(statement, params).one()
            if first is None:  # no rows
                return found
            for start in range(first, last + 1, _KEY_SCAN_FILES):
                window = {"first": start, "last": start + _KEY_SCAN_FILES - 1}
                for run_index, count in conn.execute(scan, {**ids, **window}):
                    found[numbered[run_index]] += int(count)
        return found

    def messages_key_enforced(self) -> bool:
        """Whether nudgescribe.messages has its primary key, so no key can repeat.

        Read from information_schema. False on DuckDB, which keeps no index on messages
        (sql/003), on databases without information_schema, and where the key was dropped.
        """
        if self.dialect not in ("duckdb", "postgresql"):
            return False
        with self._read() as conn:
            columns = conn.execute(
                _PRIMARY_KEY_COLUMNS, {"schema": SCHEMA, "table": MESSAGES.name}
            ).scalars()
            return tuple(columns) == MESSAGES.key

    def duplicate_message_keys(self, campaign_id: str, run_id: str) -> int:
        key = (campaign_id, run_id)
        return self.duplicate_message_keys_by_run([key])[key]

    def unknown_customer_messages_by_run(self, runs: Sequence[RunKey]) -> dict[RunKey, int]:
        """Per run, messages whose customer_id is not a customer of the campaign's group.

        A campaign missing from `campaigns` has no group, so all its messages count.
        """
        return self._count_by_run(
            "SELECT m.campaign_id, m.run_id, COUNT(*) FROM nudgescribe.messages AS m"
            " LEFT JOIN nudgescribe.campaigns AS c ON c.campaign_id = m.campaign_id"
            " LEFT JOIN nudgescribe.customers AS cu"
            " ON cu.customer_group_id = c.customer_group_id AND cu.customer_id = m.customer_id"
            " WHERE m.campaign_id IN :campaign_ids AND m.run_id IN :run_ids"
            " AND cu.customer_id IS NULL"
            " GROUP BY m.campaign_id, m.run_id",
            runs,
        )

    def unknown_customer_messages(self, campaign_id: str, run_id: str) -> int:
        key = (campaign_id, run_id)
        return self.unknown_customer_messages_by_run([key])[key]


_MESSAGE_FILE_COLUMNS = pa.schema(list(MESSAGE_FILES.columns))


def _message_files_table(runs: Sequence[RunLoad]) -> pa.Table:
    rows = (
        {
            "campaign_id": run.campaign_id,
            "run_id": run.run_id,
            "file_num": f.file_num,
            "row_count": f.row_count,
            # byte_count keeps its old meaning, the CSV bytes, for existing queries.
            "byte_count": f.csv_bytes,
            "sha256": f.sha256,
            "lake_path": f.lake_path if f.lake_relpath is None else f.lake_relpath,
            "export_job_id": f.export_job_id,
            "fetched_at": f.fetched_at,
            "csv_byte_count": f.csv_bytes,
            "parquet_byte_count": f.parquet_byte_count,
        }
        for run in runs
        for f in run.files
    )
    return table_from_rows(rows, _MESSAGE_FILE_COLUMNS)


def _check_counts(run: RunLoad, counts: Mapping[int, int]) -> None:
    """Refuse the load when any file yielded other than its declared row count."""
    expected = {f.file_num: f.row_count for f in run.files}
    actual = {num: counts.get(num, 0) for num in expected} | dict(counts)
    if actual != expected:
        wrong = {n: (expected.get(n), actual.get(n)) for n in actual}
        wrong = {n: v for n, v in wrong.items() if v[0] != v[1]}
        raise LoadMismatchError(
            f"campaign {run.campaign_id} run {run.run_id}: rows per file_num "
            f"(declared, found) differ: {wrong}"
        )


def _run_status_upsert(rows: Sequence[Mapping[str, Any]]) -> tuple[Any, dict[str, Any]]:
    """One INSERT ... ON CONFLICT DO UPDATE for `rows` (distinct keys), values bound."""
    columns = CAMPAIGN_RUN_STATUS.column_names
    values = ", ".join(
        "(" + ", ".join(f":{name}_{i}" for name in columns) + ")" for i in range(len(rows))
    )
    updates = ", ".join(
        f"{name} = excluded.{name}" for name in columns if name not in CAMPAIGN_RUN_STATUS.key
    )
    statement = text(
        f"INSERT INTO {CAMPAIGN_RUN_STATUS.qualified_name} ({', '.join(columns)})"
        f" VALUES {values}"
        f" ON CONFLICT ({', '.join(CAMPAIGN_RUN_STATUS.key)}) DO UPDATE SET {updates}"
    )
    params = {f"{name}_{i}": row[name] for i, row in enumerate(rows) for name in columns}
    return statement, params


def _record_lake_root(conn: Connection, lake_root: str) -> None:
    """Keep nudgescribe.lake's one row at `lake_root`; untouched while it is the same."""
    if conn.execute(_LAKE_ROOT).scalar_one_or_none() != lake_root:
        conn.execute(_UPSERT_LAKE_ROOT, {"lake_root": lake_root, "recorded_at": datetime.now(UTC)})


def _check_single_group(data: pa.Table, group_id: str, spec: TableSpec) -> None:
    groups = set(data.column("customer_group_id").unique().to_pylist())
    if groups - {group_id}:
        raise InputError(f"{spec.name}: rows of other customer groups than {group_id!r}")


def _runs_in(
    conn: Connection, runs: Sequence[RunKey], sources: Sequence[tuple[TableSpec, str]]
) -> set[RunKey]:
    """The runs of `runs` with a row in any of `sources` (a table and a condition of its
    own, or ""), in one query."""
    if not runs:
        return set()
    statement, params = _for_runs(
        " UNION ".join(
            f"SELECT DISTINCT campaign_id, run_id FROM {table.qualified_name}"
            f" WHERE {condition}{' AND ' if condition else ''}"
            "campaign_id IN :campaign_ids AND run_id IN :run_ids"
            for table, condition in sources
        ),
        runs,
    )
    return {(c, r) for c, r in conn.execute(statement, params)} & set(runs)


def _for_runs(sql: str, runs: Sequence[RunKey]) -> tuple[Any, dict[str, Any]]:
    """`sql` with its :campaign_ids and :run_ids lists bound for `runs`."""
    statement = text(sql).bindparams(
        bindparam("campaign_ids", expanding=True), bindparam("run_ids", expanding=True)
    )
    params = {
        "campaign_ids": sorted({campaign for campaign, _ in runs}),
        "run_ids": sorted({run for _, run in runs}),
    }
    return statement, params
