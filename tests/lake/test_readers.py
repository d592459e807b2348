"""Ordinary readers open the lake's datasets with their default arguments.

The lake is written with the real writers, with ids that need encoding (and one so long
it is hashed), ids with leading zeros, and the texts NA/null/None/"" as values.
"""

from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nudge_pipeline.arrow_rows import table_from_rows
from nudge_pipeline.lake import (
    Lake,
    customers_path,
    existing_message_file,
    list_message_files,
    message_file_path,
    snapshot_path,
    write_message_file,
    write_table,
)
from nudge_pipeline.lake.migrate import migrate_layout
from nudge_pipeline.lake.paths import legacy_message_file_path

from .conftest import csv_bytes

LONG_ID = "campaign-" + "é" * 150  # encodes past the folder-name limit: hashed
# "00123" and "123" (or "007" and "7") are one number to a reader that infers types.
CAMPAIGN_RUNS = [
    ("00123", "007"),
    ("123", "7"),
    ("a/b c=d%", "NA"),
    ("null", "None"),
    (LONG_ID, "1"),
]
AWKWARD_ROWS = [["0001", "NA"], ["null", "null"], ["None", "None"], ["", ""], ["007", "hi, 👋"]]
GROUPS = ["0042", "42", "g/1 ü", "None"]
UTC_US = pa.timestamp("us", tz="UTC")
SYNCS = ["20240501T100000000000Z", "20240502T100000000000Z"]

CAMPAIGN_SCHEMA = pa.schema(
    [
        ("campaign_id", pa.string()),
        ("campaign_name", pa.string()),
        ("start_date", pa.string()),
        ("created_at", pa.string()),
    ]
)
CUSTOMER_SCHEMA = pa.schema(
    [
        ("customer_group_id", pa.string()),
        ("customer_id", pa.string()),
        ("extended_profile", pa.string()),
        ("created_at", pa.string()),
    ]
)


def expected_messages() -> set[tuple[str, str, str, str]]:
    return {(c, r, cid, msg) for c, r in CAMPAIGN_RUNS for cid, msg in AWKWARD_ROWS}


def expected_customers() -> set[tuple[str, str]]:
    return {(g, cid) for g in GROUPS for cid, _ in AWKWARD_ROWS}


def campaigns_table(names: list[str]) -> pa.Table:
    rows = [
        {
            "campaign_id": campaign_id,
            "campaign_name": name,
            "start_date": "2024-04-30",
            "created_at": "2024-04-01T08:00:00+02:00",
        }
        for (campaign_id, _), name in zip(CAMPAIGN_RUNS, names, strict=False)
    ]
    return table_from_rows(rows, CAMPAIGN_SCHEMA)


def write_lake(lake: Lake) -> None:
    for campaign_id, run_id in CAMPAIGN_RUNS:
        for file_num in (0, 1):
            rows = AWKWARD_ROWS[file_num::2]
            data = io.BytesIO(csv_bytes(rows))
            write_message_file(lake, campaign_id, run_id, file_num, data, "job-1")
    for group_id in GROUPS:
        rows = [
            {
                "customer_group_id": group_id,
                "customer_id": cid,
                "extended_profile": '{"tier": "NA"}',
                "created_at": "2024-04-01T06:00:00Z",
            }
            for cid, _ in AWKWARD_ROWS
        ]
        write_table(lake, customers_path(group_id, 1, 2), table_from_rows(rows, CUSTOMER_SCHEMA))
    write_table(lake, snapshot_path("campaigns", SYNCS[0]), campaigns_table(["old", "old"]))
    write_table(lake, snapshot_path("campaigns", SYNCS[1]), campaigns_table(["NA", "", "None"]))
    lake.sync()


@pytest.fixture
def landed(lake: Lake) -> Path:
    write_lake(lake)
    return Path(lake.root)


def pyarrow_rows(path: Path, columns: list[str]) -> set[tuple[str, ...]]:
    table = pq.read_table(path)
    return set(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def pandas_rows(path: Path, columns: list[str]) -> set[tuple[str, ...]]:
    frame = pd.read_parquet(path)
    assert not frame[columns].isna().any().any()
    return set(frame[columns].itertuples(index=False, name=None))


def duckdb_rows(pattern: str, columns: list[str]) -> set[tuple[str, ...]]:
    query = f"SELECT {', '.join(columns)} FROM read_parquet('{pattern}', hive_partitioning=true)"
    return set(duckdb.sql(query).fetchall())


MESSAGE_COLUMNS = ["campaign_id", "run_id", "customer_id", "message"]


def test_messages_read_on_defaults_by_pyarrow_pandas_and_duckdb(landed: Path) -> None:
    messages = landed / "messages"
    assert pyarrow_rows(messages, MESSAGE_COLUMNS) == expected_messages()
    assert pandas_rows(messages, MESSAGE_COLUMNS) == expected_messages()
    assert duckdb_rows(f"{messages}/**/*.parquet", MESSAGE_COLUMNS) == expected_messages()
    assert duckdb_rows(f"{messages}/*/*/*.parquet", MESSAGE_COLUMNS) == expected_messages()
    # The in-file columns keep their types in every reader.
    assert pq.read_table(messages).schema.field("campaign_id").type == pa.string()
    described = {
        row[0]: row[1]
        for row in duckdb.sql(
            f"DESCRIBE SELECT * FROM read_parquet('{messages}/**/*.parquet', "
            "hive_partitioning=true)"
        ).fetchall()
    }
    assert described["campaign_id"] == "VARCHAR" and described["file_num"] == "INTEGER"


def test_customers_read_on_defaults_by_pyarrow_pandas_and_duckdb(landed: Path) -> None:
    customers = landed / "customers"
    columns = ["customer_group_id", "customer_id"]
    assert pyarrow_rows(customers, columns) == expected_customers()
    assert pandas_rows(customers, columns) == expected_customers()
    assert duckdb_rows(f"{customers}/**/*.parquet", columns) == expected_customers()
    assert pq.read_table(customers).schema.field("created_at").type == UTC_US


def test_snapshots_read_on_defaults_with_typed_times(landed: Path) -> None:
    campaigns = landed / "campaigns"
    first, second = (datetime.strptime(s, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC) for s in SYNCS)
    table = pq.read_table(campaigns)
    for name in ("created_at", "synced_at"):
        assert table.schema.field(name).type == UTC_US
    assert table.schema.field("start_date").type == pa.date32()
    columns = ["campaign_id", "campaign_name", "synced_at"]
    expected = {
        ("00123", "old", first),
        ("123", "old", first),
        ("00123", "NA", second),
        ("123", "", second),
        ("a/b c=d%", "None", second),
    }
    assert set(zip(*(table.column(c).to_pylist() for c in columns), strict=True)) == expected
    frame = pd.read_parquet(campaigns)
    assert str(frame["synced_at"].dtype).startswith("datetime64[us, UTC]")
    assert {(r[0], r[1]) for r in frame[columns].itertuples(index=False)} == {
        (c, n) for c, n, _ in expected
    }
    assert duckdb_rows(f"{campaigns}/*/*.parquet", columns) == expected
    created = pq.read_table(campaigns).column("created_at").to_pylist()
    assert set(created) == {datetime(2024, 4, 1, 6, tzinfo=UTC)}


def test_latest_snapshot_query_of_the_docs(landed: Path) -> None:
    latest = duckdb.sql(
        f"SELECT campaign_id, campaign_name FROM read_parquet('{landed}/campaigns/*/*.parquet', "
        "hive_partitioning=true) QUALIFY synced_at = max(synced_at) OVER ()"
    ).fetchall()
    assert sorted(latest) == [("00123", "NA"), ("123", ""), ("a/b c=d%", "None")]


def test_hashed_ids_read_back_exactly(landed: Path) -> None:
    hashed = [p for p in (landed / "messages").iterdir() if "~" in p.name]
    assert len(hashed) == 1  # the long id's folder holds a hash, not the id
    rows = duckdb_rows(f"{landed}/messages/**/*.parquet", MESSAGE_COLUMNS)
    assert {r for r in rows if r[0] == LONG_ID} == {
        (LONG_ID, "1", cid, msg) for cid, msg in AWKWARD_ROWS
    }


# ---------------------------------------------------------------- the legacy layout


def make_legacy(lake: Lake) -> None:
    """The lake as the legacy layout held it: same files, keys named like the columns."""
    for campaign_id, run_id in CAMPAIGN_RUNS:
        for file_num in (0, 1):
            lake.move(
                message_file_path(campaign_id, run_id, file_num),
                legacy_message_file_path(campaign_id, run_id, file_num),
            )
    root = Path(lake.root)
    for folder in (root / "customers").iterdir():
        folder.rename(folder.with_name(f"customer_group_id={folder.name}"))
    for sync_id in SYNCS:
        current = root / snapshot_path("campaigns", sync_id)
        legacy = root / "campaigns" / f"synced_at={sync_id}" / "part-0.parquet"
        legacy.parent.mkdir(parents=True)
        as_text = pq.read_table(current).drop_columns(["synced_at"])
        as_text = as_text.set_column(
            as_text.schema.get_field_index("created_at"),
            "created_at",
            pa.array(["2024-04-01T06:00:00Z"] * as_text.num_rows),
        ).drop_columns(["start_date"])
        pq.write_table(as_text, legacy)
        current.unlink()
        current.parent.rmdir()


def test_the_pipeline_keeps_using_legacy_message_files(landed: Path, lake: Lake) -> None:
    make_legacy(lake)
    campaign_id, run_id = CAMPAIGN_RUNS[0]
    stats = existing_message_file(lake, campaign_id, run_id, 1)
    assert stats is not None
    assert stats.lake_path == legacy_message_file_path(campaign_id, run_id, 1)
    assert Path(stats.uri).is_file()
    assert [n for n, _ in list_message_files(lake, campaign_id, run_id)] == [0, 1]

    # A file landed again goes to the current folder and its legacy copy goes.
    again = io.BytesIO(csv_bytes(AWKWARD_ROWS[1::2]))
    write_message_file(lake, campaign_id, run_id, 1, again, "job-2")
    assert list_message_files(lake, campaign_id, run_id) == [
        (0, legacy_message_file_path(campaign_id, run_id, 0)),
        (1, message_file_path(campaign_id, run_id, 1)),
    ]
    stats = existing_message_file(lake, campaign_id, run_id, 1)
    assert stats is not None and stats.export_job_id == "job-2"
    assert not lake.exists(legacy_message_file_path(campaign_id, run_id, 1))


def test_migrate_brings_a_legacy_lake_to_the_readers(landed: Path, lake: Lake) -> None:
    make_legacy(lake)
    with pytest.raises((pa.ArrowTypeError, pa.ArrowInvalid)):  # what legacy keys did
        pq.read_table(landed / "messages")

    # Both copies of a file: a writer stopped between landing it and dropping the legacy one.
    campaign_id, run_id = CAMPAIGN_RUNS[0]
    both = landed / message_file_path(campaign_id, run_id, 0)
    shutil.copyfile(landed / legacy_message_file_path(campaign_id, run_id, 0), both)
    group = landed / customers_path(GROUPS[0], 1, 2)
    group.parent.mkdir()
    shutil.copyfile(
        landed / "customers" / f"customer_group_id={group.parent.name}" / group.name, group
    )

    report = migrate_layout(lake)
    assert (report.moved, report.superseded, report.snapshots) == (
        2 * len(CAMPAIGN_RUNS) - 1 + len(GROUPS) - 1,
        2,
        len(SYNCS),
    )
    assert pyarrow_rows(landed / "messages", MESSAGE_COLUMNS) == expected_messages()
    assert pandas_rows(landed / "customers", ["customer_group_id", "customer_id"]) == (
        expected_customers()
    )
    snapshots = pq.read_table(landed / "campaigns")
    assert snapshots.schema.field("created_at").type == UTC_US
    assert sorted(set(snapshots.column("synced_at").to_pylist())) == [
        datetime.strptime(s, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC) for s in SYNCS
    ]
    assert not [p for p in landed.rglob("*") if "_id=" in p.name or "synced_at=" in p.name]
    assert migrate_layout(lake) == type(report)()  # nothing left to do
