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


def land(wh: Warehouse, lake_root: Path) -> None:
    """Snapshots, two customer groups with profile values, three runs' messages, statuses."""
    wh.replace_snapshot(
        "campaigns",
        _table(
            {
                "campaign_id": ["c-1", "c-2"],
                "workspace_id": ["w-1", "w-2"],
                "workspace_name": ["North", "South"],
                "campaign_name": ["Spring", "Summer"],
                "customer_group_id": ["g-1", "g-2"],
                "status": ["active", "paused"],
                "stage": ["Published", "Published"],
                "start_date": ["2024-03-01", "2024-06-01"],
                "end_date": ["2024-03-31", "2024-06-30"],
                "created_at": [CREATED, CREATED],
                "updated_at": [None, None],
            },
            {"created_at": TS, "updated_at": TS},
        ),
    )
    runs = [  # campaign, run, number, status
        ("c-1", "r-1", 1, "completed"),
        ("c-1", "r-2", 2, "completed"),
        ("c-1", "r-3", 3, "failed"),
        ("c-1", "r-4", 4, "failed"),
        ("c-2", "r-1", 1, "completed"),
        ("c-2", "r-2", 2, "completed"),
        ("c-2", "r-3", 3, "queued"),
    ]
    wh.replace_snapshot(
        "campaign_runs",
        _table(
            {
                "campaign_id": [r[0] for r in runs],
                "run_id": [r[1] for r in runs],
                "run_number": [r[2] for r in runs],
                "status": [r[3] for r in runs],
                "started_at": [CREATED] * len(runs),
                "completed_at": [None] * len(runs),
                "message_count": [None] * len(runs),
            },
            {"run_number": pa.int32(), "started_at": TS, "completed_at": TS},
        ),
    )
    fields = [  # field_id, workspace, name, type, updated
        ("f-1", "w-1", "first_name", "string", 1),
        ("f-2", "w-1", "loyalty_points", "number", 5),
        # Defined twice in w-1: customer_profiles must not repeat a value for it.
        ("f-2-old", "w-1", "loyalty_points", "number", 2),
        ("f-3", "w-1", "is_vip", "boolean", 1),
        ("f-4", "w-1", "signup_date", "date", 1),
        ("f-5", "w-1", "tier", "enum", 1),
        ("f-6", "w-1", "email", "string", 1),
        ("f-7", "w-2", "first_name", "string", 1),
        ("f-8", "w-2", "loyalty_points", "number", 1),
        ("f-9", "w-2", "is_vip", "boolean", 1),
    ]
    wh.replace_snapshot(
        "customer_profile_fields",
        _table(
            {
                "field_id": [f[0] for f in fields],
                "workspace_id": [f[1] for f in fields],
                "field_name": [f[2] for f in fields],
                "field_type": [f[3] for f in fields],
                "is_custom": [f[2] != "first_name" for f in fields],
                "created_at": [CREATED] * len(fields),
                "updated_at": [datetime(2024, 1, f[4], tzinfo=UTC) for f in fields],
            },
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
        profile_values(
            [
                ("001", "first_name", "Ana", "string", False),
                ("001", "email", "ana@example.com", "string", True),
                ("001", "loyalty_points", "120", "number", False),
                ("001", "is_vip", "true", "boolean", False),
                ("001", "signup_date", "2024-03-01", "date", False),
                ("002", "first_name", "Bo", "string", False),
                ("002", "loyalty_points", "12 pts", "number", False),
                ("002", "is_vip", "yes", "boolean", False),
                ("002", "signup_date", "2024-02-30", "date", False),
                ("003", "first_name", "Cy", "string", False),
                ("003", "loyalty_points", " -7.5 ", "number", False),
                ("003", "is_vip", "FALSE", "boolean", False),
                ("003", "signup_date", None, "date", False),
            ]
        ),
    )
    wh.replace_customers(
        "g-2",
        customers("w-2", {"001": '{"tier": "bronze"}', "010": '{"tier": "gold"}'}),
        profile_values(
            [
                ("001", "loyalty_points", "3e2", "number", False),
                ("001", "is_vip", "false", "boolean", False),
                ("010", "first_name", "Di", "string", False),
                ("010", "legacy_score", "0.5", None, False),
            ]
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
    return _table(
        {
            "customer_id": [r[0] for r in rows],
            "field_name": [r[1] for r in rows],
            "value": [r[2] for r in rows],
            "field_type": [r[3] for r in rows],
            "is_encrypted": [r[4] for r in rows],
        },
        {"value": pa.string(), "field_type": pa.string()},
    )


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
