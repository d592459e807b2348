"""A small landed data set, written through the Warehouse API, and what the recipes in
docs/analysts.md must answer on it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nudge_pipeline.warehouse import MessageFileLoad, RunStatus, Warehouse
from tests.warehouse.messages_data import message_table

TS = pa.timestamp("us", tz="UTC")
CREATED = datetime(2024, 1, 1, tzinfo=UTC)

# (campaign_id, run_id, file_num) -> (customer ids, extra JSON texts)
MESSAGES: dict[tuple[str, str, int], tuple[list[str], list[str | None]]] = {
    ("c-1", "r-1", 0): (
        ["001", "002", "003", "001"],
        ['{"segment": "vip"}', '{"segment": "new"}', None, '{"segment": "vip"}'],
    ),
    ("c-1", "r-2", 0): (["001", "002"], [None, '{"segment": "new"}']),
    # 004 is not a customer of g-1.
    ("c-1", "r-2", 1): (["004"], ['{"segment": "vip", "tone": "warm"}']),
    ("c-2", "r-1", 0): (["001", "010"], [None, None]),
}
CSV_BYTES = 1000  # declared per file; the Parquet size is measured


def _table(columns: dict[str, list[object]], types: dict[str, pa.DataType]) -> pa.Table:
    return pa.table({name: pa.array(values, types.get(name)) for name, values in columns.items()})


def _rows_table(
    names: str, rows: list[tuple[object, ...]], types: dict[str, pa.DataType]
) -> pa.Table:
    """A table from rows; `names` lists the columns, space-separated."""
    return _table(dict(zip(names.split(), map(list, zip(*rows, strict=True)), strict=True)), types)


def land(wh: Warehouse, lake_root: Path) -> None:
    """Snapshots, two customer groups with profile values, three runs' messages, statuses."""
    wh.replace_snapshot(
        "campaigns",
        _rows_table(
            "campaign_id workspace_id workspace_name campaign_name customer_group_id status"
            " stage start_date end_date created_at updated_at",
            [
                ("c-1", "w-1", "North", "Spring", "g-1", "active", "Published")
                + ("2024-03-01", "2024-03-31", CREATED, None),
                ("c-2", "w-2", "South", "Summer", "g-2", "paused", "Published")
                + ("2024-06-01", "2024-06-30", CREATED, None),
            ],
            {"created_at": TS, "updated_at": TS},
        ),
    )
    wh.replace_snapshot(
        "campaign_runs",
        _rows_table(
            "campaign_id run_id run_number status started_at completed_at message_count",
            [
                ("c-1", "r-1", 1, "completed", CREATED, None, None),
                ("c-1", "r-2", 2, "completed", CREATED, None, None),
                ("c-1", "r-3", 3, "failed", CREATED, None, None),
                ("c-1", "r-4", 4, "failed", CREATED, None, None),
                ("c-2", "r-1", 1, "completed", CREATED, None, None),
                ("c-2", "r-2", 2, "completed", CREATED, None, None),
                ("c-2", "r-3", 3, "queued", CREATED, None, None),
            ],
            {"run_number": pa.int32(), "started_at": TS, "completed_at": TS},
        ),
    )
    wh.replace_snapshot(
        "customer_profile_fields",
        _rows_table(
            "field_id workspace_id field_name field_type is_custom created_at updated_at",
            [
                ("f-1", "w-1", "first_name", "string", False, CREATED, _day(1)),
                ("f-2", "w-1", "loyalty_points", "number", True, CREATED, _day(5)),
                # Defined twice in w-1: customer_profiles must not repeat a value for it.
                ("f-2-old", "w-1", "loyalty_points", "number", True, CREATED, _day(2)),
                ("f-3", "w-1", "is_vip", "boolean", True, CREATED, _day(1)),
                ("f-4", "w-1", "signup_date", "date", True, CREATED, _day(1)),
                ("f-5", "w-1", "tier", "enum", True, CREATED, _day(1)),
                ("f-6", "w-1", "email", "string", True, CREATED, _day(1)),
                ("f-7", "w-2", "first_name", "string", False, CREATED, _day(1)),
                ("f-8", "w-2", "loyalty_points", "number", True, CREATED, _day(1)),
                ("f-9", "w-2", "is_vip", "boolean", True, CREATED, _day(1)),
            ],
            {"created_at": TS, "updated_at": TS},
        ),
    )
    wh.replace_customers(
        "g-1",
        customers(
            "w-1",
            {
                "001": '{"tier": "gold", "email": "enc:v1:gAAA"}',
                "002": '{"tier": "silver"}',
                "003": "{}",
            },
        ),
        profile_values_by_customer(
            {
                "001": {
                    "first_name": "Ana",
                    "email": "ana@example.com",
                    "loyalty_points": "120",
                    "is_vip": "true",
                    "signup_date": "2024-03-01",
                },
                "002": {
                    "first_name": "Bo",
                    "loyalty_points": "12 pts",
                    "is_vip": "yes",
                    "signup_date": "2024-02-30",
                },
                "003": {
                    "first_name": "Cy",
                    "loyalty_points": " -7.5 ",
                    "is_vip": "FALSE",
                    "signup_date": None,
                },
            }
        ),
    )
    wh.replace_customers(
        "g-2",
        customers("w-2", {"001": '{"tier": "bronze"}', "010": '{"tier": "gold"}'}),
        profile_values_by_customer(
            {
                "001": {"loyalty_points": "3e2", "is_vip": "false"},
                "010": {"first_name": "Di", "legacy_score": "0.5"},
            }
        ),
    )
    by_run: dict[tuple[str, str], list[MessageFileLoad]] = {}
    for (campaign_id, run_id, file_num), (ids, extras) in MESSAGES.items():
        rel = f"messages/campaign_id={campaign_id}/run_id={run_id}/part-{file_num}.parquet"
        path = lake_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        table = message_table(
            campaign_id, run_id, file_num, len(ids), customer_ids=ids, extras=extras
        )
        pq.write_table(table, path)
        by_run.setdefault((campaign_id, run_id), []).append(
            MessageFileLoad(
                file_num=file_num,
                lake_path=str(path),
                row_count=len(ids),
                sha256="ab" * 32,
                export_job_id="job-1",
                fetched_at=CREATED,
                lake_relpath=rel,
                csv_byte_count=CSV_BYTES + file_num,
                parquet_byte_count=path.stat().st_size,
            )
        )
    for (campaign_id, run_id), loads in by_run.items():
        wh.replace_messages(campaign_id, run_id, loads, lake_root=str(lake_root))
    wh.record_run_statuses(
        [
            RunStatus("c-1", "r-1", "loaded", export_job_id="job-1"),
            RunStatus("c-1", "r-2", "loaded", export_job_id="job-1"),
            RunStatus("c-1", "r-3", "skipped", "run failed"),
            RunStatus("c-1", "r-4", "skipped", "run failed"),
            RunStatus("c-2", "r-1", "loaded", export_job_id="job-1"),
            RunStatus("c-2", "r-2", "failed", "LoadMismatchError"),
        ]
    )


def customers(workspace_id: str, profiles: dict[str, str]) -> pa.Table:
    n = len(profiles)
    return _table(
        {
            "customer_id": list(profiles),
            "account_id": ["a-1"] * n,
            "workspace_id": [workspace_id] * n,
            "extended_profile": list(profiles.values()),
            "created_at": [CREATED] * n,
            "updated_at": [None] * n,
            "created_by": ["u"] * n,
            "updated_by": [None] * n,
        },
        {"created_at": TS, "updated_at": TS},
    )


def profile_values(rows: list[tuple[str, str, str | None, str | None, bool]]) -> pa.Table:
    """Rows of (customer_id, field_name, value, field_type, is_encrypted)."""
    return _rows_table(
        "customer_id field_name value field_type is_encrypted",
        list(rows),
        {"value": pa.string(), "field_type": pa.string()},
    )


# The field types of the profile values above; legacy_score has no field definition.
FIELD_TYPES = {
    "first_name": "string",
    "email": "string",
    "loyalty_points": "number",
    "is_vip": "boolean",
    "signup_date": "date",
    "legacy_score": None,
}
ENCRYPTED_FIELDS = {"email"}


def profile_values_by_customer(values: dict[str, dict[str, str | None]]) -> pa.Table:
    return profile_values(
        [
            (customer_id, name, value, FIELD_TYPES[name], name in ENCRYPTED_FIELDS)
            for customer_id, fields in values.items()
            for name, value in fields.items()
        ]
    )


def _day(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


def expected_lake_files(lake_root: Path) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for (campaign_id, run_id, file_num), _ in sorted(MESSAGES.items()):
        rel = f"messages/campaign_id={campaign_id}/run_id={run_id}/part-{file_num}.parquet"
        size = (lake_root / rel).stat().st_size
        rows.append((file_num, f"{lake_root}/{rel}", CSV_BYTES + file_num, size))
    return rows


# What each recipe of docs/analysts.md answers on this data, on both databases.
EXPECTED: dict[str, list[tuple[object, ...]]] = {
    "messages_per_run": [("Spring", 1, 4), ("Spring", 2, 3), ("Summer", 1, 2)],
    # Spring reached 001-004, of whom 004 is unknown to g-1; Summer 001 and 010 of g-2.
    "reach_per_campaign": [("Spring", 4, 3), ("Summer", 2, 2)],
    "latest_loaded_run": [("Spring", "r-2", 2, 3), ("Summer", "r-1", 1, 2)],
    "skip_reasons": [
        ("failed", "LoadMismatchError", 1),
        ("pending", "", 1),  # c-2 r-3: no status row
        ("skipped", "run failed", 2),
    ],
    "json_extraction": [("new", 2), ("vip", 3)],
    "profile_json_field": [
        ("g-1", "001", "gold"),
        ("g-1", "002", "silver"),
        ("g-1", "003", None),
        ("g-2", "001", "bronze"),
        ("g-2", "010", "gold"),
    ],
    "profile_pivot": [
        ("g-1", "001", "Ana", 120.0, True, date(2024, 3, 1)),
        ("g-1", "002", "Bo", None, None, None),
        ("g-1", "003", "Cy", -7.5, False, None),
        ("g-2", "001", None, 300.0, False, None),
        ("g-2", "010", "Di", None, None, None),
    ],
    "uncastable_values": [
        ("is_vip", "boolean", 1),
        ("loyalty_points", "number", 1),
        ("signup_date", "date", 1),
    ],
}
UNCASTABLE_IN_G1 = 3  # "12 pts", "yes", "2024-02-30"
