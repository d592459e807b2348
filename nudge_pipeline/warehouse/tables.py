"""Column layout of the warehouse tables, mirrored from sql/ for loaders and input checks.

tests/warehouse/test_migrations.py keeps this in step with the migrated database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

SCHEMA = "nudgescribe"

TEXT = pa.string()
INT = pa.int32()
BIGINT = pa.int64()
DOUBLE = pa.float64()
BOOL = pa.bool_()
DATE = pa.date32()
TIMESTAMPTZ = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]
    columns: tuple[tuple[str, pa.DataType], ...]
    # Text columns typed JSON in the database (DuckDB JSON, PostgreSQL jsonb); loaders
    # cast or encode them so. SQLite keeps them TEXT.
    json_columns: frozenset[str] = frozenset()

    @property
    def qualified_name(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(list(self.columns))


CAMPAIGNS = TableSpec(
    "campaigns",
    ("campaign_id",),
    (
        ("campaign_id", TEXT),
        ("workspace_id", TEXT),
        ("workspace_name", TEXT),
        ("campaign_name", TEXT),
        ("customer_group_id", TEXT),
        ("status", TEXT),
        ("stage", TEXT),
        ("start_date", DATE),
        ("end_date", DATE),
        ("created_at", TIMESTAMPTZ),
        ("updated_at", TIMESTAMPTZ),
        ("synced_at", TIMESTAMPTZ),
    ),
)

CAMPAIGN_RUNS = TableSpec(
    "campaign_runs",
    ("campaign_id", "run_id"),
    (
        ("campaign_id", TEXT),
        ("run_id", TEXT),
        ("run_number", INT),
        ("status", TEXT),
        ("started_at", TIMESTAMPTZ),
        ("completed_at", TIMESTAMPTZ),
        ("message_count", BIGINT),
        ("synced_at", TIMESTAMPTZ),
    ),
)

MESSAGES = TableSpec(
    "messages",
    ("campaign_id", "run_id", "file_num", "row_num"),
    (
        ("campaign_id", TEXT),
        ("run_id", TEXT),
        ("file_num", INT),
        ("row_num", BIGINT),
        ("customer_id", TEXT),
        ("message", TEXT),
        ("extra", TEXT),
        ("export_job_id", TEXT),
        ("loaded_at", TIMESTAMPTZ),
    ),
    json_columns=frozenset({"extra"}),
)

MESSAGE_FILES = TableSpec(
    "message_files",
    ("campaign_id", "run_id", "file_num"),
    (
        ("campaign_id", TEXT),
        ("run_id", TEXT),
        ("file_num", INT),
        ("row_count", BIGINT),
        ("byte_count", BIGINT),
        ("sha256", TEXT),
        ("lake_path", TEXT),
        ("export_job_id", TEXT),
        ("fetched_at", TIMESTAMPTZ),
        ("csv_byte_count", BIGINT),
        ("parquet_byte_count", BIGINT),
    ),
)

CUSTOMER_GROUPS = TableSpec(
    "customer_groups",
    ("customer_group_id",),
    (
        ("customer_group_id", TEXT),
        ("account_id", TEXT),
        ("workspace_id", TEXT),
        ("group_name", TEXT),
        ("created_at", TIMESTAMPTZ),
        ("updated_at", TIMESTAMPTZ),
        ("created_by", TEXT),
        ("updated_by", TEXT),
        ("synced_at", TIMESTAMPTZ),
    ),
)

CUSTOMERS = TableSpec(
    "customers",
    ("customer_group_id", "customer_id"),
    (
        ("customer_group_id", TEXT),
        ("customer_id", TEXT),
        ("account_id", TEXT),
        ("workspace_id", TEXT),
        ("extended_profile", TEXT),
        ("created_at", TIMESTAMPTZ),
        ("updated_at", TIMESTAMPTZ),
        ("created_by", TEXT),
        ("updated_by", TEXT),
        ("synced_at", TIMESTAMPTZ),
    ),
    json_columns=frozenset({"extended_profile"}),
)

CUSTOMER_PROFILE_FIELDS = TableSpec(
    "customer_profile_fields",
    ("field_id",),
    (
        ("field_id", TEXT),
        ("workspace_id", TEXT),
        ("field_name", TEXT),
        ("field_type", TEXT),
        ("is_custom", BOOL),
        ("created_at", TIMESTAMPTZ),
        ("updated_at", TIMESTAMPTZ),
        ("synced_at", TIMESTAMPTZ),
    ),
)

CUSTOMER_PROFILE_VALUES = TableSpec(
    "customer_profile_values",
    ("customer_group_id", "customer_id", "field_name"),
    (
        ("customer_group_id", TEXT),
        ("customer_id", TEXT),
        ("field_name", TEXT),
        ("value", TEXT),
        ("field_type", TEXT),
        ("workspace_id", TEXT),
        ("value_number", DOUBLE),
        ("value_boolean", BOOL),
        ("value_date", DATE),
        ("is_encrypted", BOOL),
    ),
)

CAMPAIGN_RUN_STATUS = TableSpec(
    "campaign_run_status",
    ("campaign_id", "run_id"),
    (
        ("campaign_id", TEXT),
        ("run_id", TEXT),
        ("load_status", TEXT),
        ("load_reason", TEXT),
        ("last_attempt_at", TIMESTAMPTZ),
        ("export_job_id", TEXT),
    ),
)

# One row: the root that message_files.lake_path is relative to.
LAKE = TableSpec(
    "lake",
    ("lake_id",),
    (
        ("lake_id", INT),
        ("lake_root", TEXT),
        ("recorded_at", TIMESTAMPTZ),
    ),
)

SnapshotName = Literal["campaigns", "campaign_runs", "customer_groups", "customer_profile_fields"]

SNAPSHOT_TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (CAMPAIGNS, CAMPAIGN_RUNS, CUSTOMER_GROUPS, CUSTOMER_PROFILE_FIELDS)
}

ALL_TABLES: tuple[TableSpec, ...] = (
    CAMPAIGNS,
    CAMPAIGN_RUNS,
    MESSAGES,
    MESSAGE_FILES,
    CUSTOMER_GROUPS,
    CUSTOMERS,
    CUSTOMER_PROFILE_FIELDS,
    CUSTOMER_PROFILE_VALUES,
    CAMPAIGN_RUN_STATUS,
    LAKE,
)

VIEWS = ("campaign_messages", "campaign_run_summary", "customer_profiles")
