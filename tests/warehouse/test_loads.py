from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from nudge_pipeline.warehouse import (
    InputError,
    LoadMismatchError,
    MessageFileLoad,
    RunLoad,
    Warehouse,
)
from nudge_pipeline.warehouse.loaders.base import check_file_keys
from nudge_pipeline.warehouse.loaders.duckdb import DuckDBLoader
from nudge_pipeline.warehouse.loaders.generic import GenericInsertLoader
from nudge_pipeline.warehouse.loaders.postgres import PostgresCopyLoader
from tests.warehouse.messages_data import (
    QUIRK_CUSTOMER_IDS,
    QUIRK_EXTRAS,
    QUIRK_MESSAGES,
    load_for,
    message_table,
    write_message_files,
)

LOADERS = {"duckdb": DuckDBLoader, "postgresql": PostgresCopyLoader, "sqlite": GenericInsertLoader}


def _json(value: object) -> object:
    """A JSON column's value as Python: drivers hand back parsed JSON, SQLite the text."""
    return json.loads(value) if isinstance(value, str) else value


def _messages(wh: Warehouse, campaign_id: str, run_id: str) -> list[tuple]:
    with wh.engine.connect() as conn:
        return [
            (*row[:4], _json(row[4]), row[5])
            for row in conn.execute(
                text(
                    "SELECT file_num, row_num, customer_id, message, extra, export_job_id"
                    " FROM nudgescribe.messages"
                    " WHERE campaign_id = :c AND run_id = :r ORDER BY file_num, row_num"
                ),
                {"c": campaign_id, "r": run_id},
            )
        ]


def test_each_dialect_uses_its_own_loader(any_warehouse: Warehouse) -> None:
    assert type(any_warehouse._loader) is LOADERS[any_warehouse.dialect]


def test_every_quirk_string_round_trips_byte_for_byte(
    any_warehouse: Warehouse, tmp_path: Path
) -> None:
    rows = len(QUIRK_MESSAGES) * len(QUIRK_CUSTOMER_IDS)
    messages = [QUIRK_MESSAGES[i % len(QUIRK_MESSAGES)] for i in range(rows)]
    customers = [QUIRK_CUSTOMER_IDS[i % len(QUIRK_CUSTOMER_IDS)] for i in range(rows)]
    extras = [QUIRK_EXTRAS[i % len(QUIRK_EXTRAS)] for i in range(rows)]
    table = message_table(
        "c-1", "r-1", 0, rows, customer_ids=customers, messages=messages, extras=extras
    )
    path = tmp_path / "quirks.parquet"
    pq.write_table(table, path)

    loaded = any_warehouse.replace_messages("c-1", "r-1", [load_for(path, 0, rows)])

    assert loaded == rows
    got = _messages(any_warehouse, "c-1", "r-1")
    expected = list(
        zip(
            [0] * rows,
            range(1, rows + 1),
            customers,
            messages,
            # jsonb keeps the JSON, not its text (key order, spaces): the lake has the text.
            [None if e is None else json.loads(e) for e in extras],
            ["job-1"] * rows,
            strict=True,
        )
    )
    assert got == expected
    for (_, _, customer, message, _, _), (_, _, want_customer, want_message, _, _) in zip(
        got, expected, strict=True
    ):
        assert message.encode() == want_message.encode()
        assert customer.encode() == want_customer.encode()


def test_replace_messages_swaps_the_run_and_records_its_files(
    any_warehouse: Warehouse, tmp_path: Path
) -> None:
    wh = any_warehouse
    old = write_message_files(tmp_path / "old", "c-1", "r-1", files=3, rows_per_file=40, text="old")
    other = write_message_files(tmp_path / "o", "c-1", "r-2", files=1, rows_per_file=5, text="o")
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert wh.replace_messages("c-1", "r-1", old) == 120
    assert wh.replace_messages("c-1", "r-2", other) == 5
    new = write_message_files(tmp_path / "new", "c-1", "r-1", files=2, rows_per_file=7, text="new")

    assert wh.replace_messages("c-1", "r-1", new) == 14

    rows = _messages(wh, "c-1", "r-1")
    assert len(rows) == 14 and all(r[3].startswith("new ") for r in rows)
    assert wh.message_count("c-1", "r-1") == 14
    assert wh.file_count("c-1", "r-1") == 2
    assert wh.file_row_count("c-1", "r-1") == 14
    assert wh.message_count("c-1", "r-2") == 5
    with wh.engine.connect() as conn:
        files = conn.execute(
            text(
                "SELECT file_num, row_count, byte_count, sha256, lake_path, export_job_id,"
                " fetched_at FROM nudgescribe.message_files"
                " WHERE campaign_id = 'c-1' AND run_id = 'r-1' ORDER BY file_num"
            )
        ).all()
        loaded_at = (
            conn.execute(
                text("SELECT DISTINCT loaded_at FROM nudgescribe.messages WHERE run_id = 'r-1'")
            )
            .scalars()
            .all()
        )
    assert [tuple(f)[:6] for f in files] == [
        (f.file_num, f.row_count, f.byte_count, f.sha256, f.lake_path, f.export_job_id) for f in new
    ]
    assert all(_utc(f[6]) == datetime(2024, 5, 1, 12, tzinfo=UTC) for f in files)
    assert len(loaded_at) == 1
    assert before <= _utc(loaded_at[0]) <= datetime.now(UTC)


def _utc(value: datetime | str) -> datetime:
    # SQLite hands timestamps back as ISO text.
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.astimezone(UTC)


def test_row_count_mismatch_keeps_the_old_run(warehouse: Warehouse, tmp_path: Path) -> None:
    old = write_message_files(tmp_path / "old", "c", "r", files=1, rows_per_file=10, text="old")
    warehouse.replace_messages("c", "r", old)
    new = write_message_files(tmp_path / "new", "c", "r", files=2, rows_per_file=10, text="new")
    lying = [new[0], MessageFileLoad(1, new[1].lake_path, row_count=11)]

    with pytest.raises(LoadMismatchError, match=r"\{1: \(11, 10\)\}"):
        warehouse.replace_messages("c", "r", lying)

    rows = _messages(warehouse, "c", "r")
    assert len(rows) == 10 and all(r[3].startswith("old ") for r in rows)
    assert warehouse.file_count("c", "r") == 1


def test_file_holding_another_file_num_is_rejected(warehouse: Warehouse, tmp_path: Path) -> None:
    files = write_message_files(tmp_path, "c", "r", files=2, rows_per_file=4)
    swapped = [load_for(Path(files[0].lake_path), 1, 4), load_for(Path(files[1].lake_path), 0, 4)]
    with pytest.raises(LoadMismatchError):
        warehouse.replace_messages("c", "r", swapped)
    assert warehouse.message_count("c", "r") == 0


def test_files_through_a_pyarrow_filesystem(warehouse: Warehouse, tmp_path: Path) -> None:
    """Object-store lakes arrive as a pyarrow filesystem plus paths inside it."""
    write_message_files(tmp_path / "lake", "c", "r", files=2, rows_per_file=30)
    lake = pafs.SubTreeFileSystem(str(tmp_path / "lake"), pafs.LocalFileSystem())
    loads = [MessageFileLoad(n, f"c-r-msg-part-{n}.parquet", row_count=30) for n in range(2)]
    assert warehouse.replace_messages("c", "r", loads, filesystem=lake) == 60
    assert warehouse.message_count("c", "r") == 60


def test_hostile_ids_are_values_not_sql(any_warehouse: Warehouse, tmp_path: Path) -> None:
    campaign = "c'; DROP TABLE nudgescribe.messages; --"
    run = 'r"); DELETE FROM nudgescribe.message_files; --:run_id %s $1'
    path = tmp_path / "evil.parquet"
    pq.write_table(message_table(campaign, run, 0, 3), path)
    assert any_warehouse.replace_messages(campaign, run, [load_for(path, 0, 3)]) == 3
    assert any_warehouse.message_count(campaign, run) == 3
    assert any_warehouse.file_count(campaign, run) == 1
    assert any_warehouse.duplicate_message_keys(campaign, run) == 0


CAMPAIGNS = pa.table(
    {
        "campaign_id": ["c-1", "c-2"],
        "workspace_id": ["w", "w"],
        "workspace_name": ["Main", "Main"],
        "campaign_name": ["Spring", "Autumn 🍂"],
        "customer_group_id": ["g-1", "g-2"],
        "status": ["active", "brand-new-status"],
        "stage": ["Published", "Ready to Publish"],
        "start_date": ["2024-03-01", "2024-09-01T00:00:00Z"],
        "end_date": [None, "2024-10-01"],
        "created_at": ["2024-02-01T10:00:00Z", "2024-02-01T12:00:00+02:00"],
        "updated_at": [None, None],
    }
)


def test_snapshot_replace_converts_and_replaces_everything(any_warehouse: Warehouse) -> None:
    wh = any_warehouse
    synced = datetime(2024, 6, 1, tzinfo=UTC)
    assert wh.replace_snapshot("campaigns", CAMPAIGNS, synced_at=synced) == 2
    with wh.engine.connect() as conn:
        first = conn.execute(
            text(
                "SELECT campaign_id, campaign_name, start_date, end_date, created_at, synced_at"
                " FROM nudgescribe.campaigns ORDER BY campaign_id"
            )
        ).all()
    got = [(r[0], r[1], str(r[2]), r[3], _utc(r[4]), _utc(r[5])) for r in first]
    assert got == [
        ("c-1", "Spring", "2024-03-01", None, datetime(2024, 2, 1, 10, tzinfo=UTC), synced),
        ("c-2", "Autumn 🍂", "2024-09-01", got[1][3], datetime(2024, 2, 1, 10, tzinfo=UTC), synced),
    ]
    assert str(got[1][3]) == "2024-10-01"

    assert wh.replace_snapshot("campaigns", CAMPAIGNS.slice(1, 1)) == 1
    with wh.engine.connect() as conn:
        ids = conn.execute(text("SELECT campaign_id FROM nudgescribe.campaigns")).scalars().all()
    assert ids == ["c-2"]


def test_bad_snapshot_input_is_refused_and_keeps_old_rows(warehouse: Warehouse) -> None:
    warehouse.replace_snapshot("campaigns", CAMPAIGNS)
    with pytest.raises(InputError, match="unknown columns"):
        warehouse.replace_snapshot("campaigns", CAMPAIGNS.append_column("oops", pa.array([1, 2])))
    with pytest.raises(InputError, match="missing columns"):
        warehouse.replace_snapshot("campaigns", CAMPAIGNS.drop_columns(["stage"]))
    with pytest.raises(InputError, match="more than once"):
        warehouse.replace_snapshot("campaigns", pa.concat_tables([CAMPAIGNS, CAMPAIGNS]))
    with pytest.raises(InputError, match="not a snapshot table"):
        warehouse.replace_snapshot("messages", CAMPAIGNS)  # type: ignore[arg-type]
    with warehouse.engine.connect() as conn:
        count = conn.execute(text("SELECT COUNT(*) FROM nudgescribe.campaigns")).scalar_one()
    assert count == 2


def _customers(ids: list[str], profile: str = '{"city": "Oslo"}') -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "customer_id": ids,
            "account_id": ["a"] * n,
            "workspace_id": ["w"] * n,
            "extended_profile": [profile] * n,
            "created_at": pa.array(
                [datetime(2024, 1, 1, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC")
            ),
            "updated_at": pa.array([None] * n, pa.timestamp("us", tz="UTC")),
            "created_by": ["u"] * n,
            "updated_by": [None] * n,
        }
    )


def _values(ids: list[str]) -> pa.Table:
    return pa.table(
        {
            "customer_id": ids,
            "field_name": ["city"] * len(ids),
            "value": ["Oslo"] * len(ids),
            "field_type": ["string"] * len(ids),
        }
    )


def test_customers_replace_one_group_at_a_time(any_warehouse: Warehouse) -> None:
    wh = any_warehouse
    loaded = wh.replace_customers("g-1", _customers(["001", "002"]), _values(["001", "002"]))
    assert (loaded.customers, loaded.profile_values) == (2, 2)
    loaded = wh.replace_customers("g-2", _customers(["001"]), _values(["001"]))
    assert (loaded.customers, loaded.profile_values) == (1, 1)
    encrypted = '{"city": "enc:v1:abc"}'
    loaded = wh.replace_customers("g-1", _customers(["003"], profile=encrypted))
    assert (loaded.customers, loaded.profile_values) == (1, 0)

    with wh.engine.connect() as conn:
        customers = conn.execute(
            text(
                "SELECT customer_group_id, customer_id, extended_profile"
                " FROM nudgescribe.customers ORDER BY 1, 2"
            )
        ).all()
        values = conn.execute(
            text(
                "SELECT customer_group_id, customer_id, value"
                " FROM nudgescribe.customer_profile_values ORDER BY 1, 2"
            )
        ).all()
    assert [(g, c, _json(p)) for g, c, p in customers] == [
        ("g-1", "003", {"city": "enc:v1:abc"}),
        ("g-2", "001", {"city": "Oslo"}),
    ]
    assert [tuple(r) for r in values] == [("g-2", "001", "Oslo")]


def test_customers_of_another_group_are_refused(warehouse: Warehouse) -> None:
    rows = _customers(["1"]).append_column("customer_group_id", pa.array(["g-9"]))
    with pytest.raises(InputError, match="other customer groups"):
        warehouse.replace_customers("g-1", rows)


def test_unknown_customer_messages_uses_the_campaigns_group(
    any_warehouse: Warehouse, tmp_path: Path
) -> None:
    wh = any_warehouse
    wh.replace_snapshot("campaigns", CAMPAIGNS)
    wh.replace_customers("g-1", _customers(["000123", "007"]))
    wh.replace_customers("g-2", _customers(["0"]))
    path = tmp_path / "m.parquet"
    ids = ["000123", "007", "123", "0", "7"]
    pq.write_table(message_table("c-1", "r-1", 0, 5, customer_ids=ids), path)
    wh.replace_messages("c-1", "r-1", [load_for(path, 0, 5)])
    pq.write_table(message_table("c-9", "r-1", 0, 5, customer_ids=ids), path)
    wh.replace_messages("c-9", "r-1", [load_for(path, 0, 5)])

    assert wh.unknown_customer_messages("c-1", "r-1") == 3  # "123", "0" (other group), "7"
    assert wh.unknown_customer_messages("c-9", "r-1") == 5  # campaign not synced yet


def test_a_batch_of_runs_replaces_each_and_says_which_runs_are_held(
    any_warehouse: Warehouse, tmp_path: Path
) -> None:
    wh = any_warehouse
    paths = {}
    for run, rows in (("r-1", 4), ("r-2", 6)):
        paths[run] = tmp_path / f"{run}.parquet"
        pq.write_table(message_table("c-1", run, 0, rows), paths[run])
    assert wh.replace_messages("c-1", "r-1", [load_for(paths["r-1"], 0, 4)]) == 4
    loads = [
        RunLoad("c-1", "r-1", [load_for(paths["r-1"], 0, 4)]),
        RunLoad("c-1", "r-2", [load_for(paths["r-2"], 0, 6)]),
    ]
    # r-1 is replaced (its old rows go), r-2 is new: each keeps exactly its own rows.
    assert wh.replace_runs(loads) == {("c-1", "r-1"): 4, ("c-1", "r-2"): 6}
    assert wh.message_counts([("c-1", "r-1"), ("c-1", "r-2")]) == {
        ("c-1", "r-1"): 4,
        ("c-1", "r-2"): 6,
    }
    assert wh.file_count("c-1", "r-1") == 1 and wh.file_count("c-1", "r-2") == 1
    with pytest.raises(InputError, match="listed twice"):
        wh.replace_runs([loads[0], loads[0]])
    # Held: both have message_files rows; r-9 was never loaded here.
    assert wh.loaded_runs([("c-1", "r-1"), ("c-1", "r-2"), ("c-1", "r-9")]) == {
        ("c-1", "r-1"),
        ("c-1", "r-2"),
    }


def test_duplicate_message_keys_counts_repeated_keys(warehouse: Warehouse) -> None:
    """Loads refuse repeated keys, so insert them by hand (PostgreSQL: without its key)."""
    wh = warehouse
    with wh.engine.begin() as conn:
        if wh.dialect == "postgresql":
            conn.execute(text("ALTER TABLE nudgescribe.messages DROP CONSTRAINT messages_pkey"))
        # The scan goes a few file_nums at a time: repeats in far-apart files all count.
        for file_num in (0, 17, 40):
            for row_num in (1, 1, 1, 2, 2, 3):
                conn.execute(
                    text(
                        "INSERT INTO nudgescribe.messages VALUES"
                        " ('c', 'r', :f, :n, 'x', 'm', NULL, 'j', now())"
                    ),
                    {"f": file_num, "n": row_num},
                )
        conn.execute(
            text(
                "INSERT INTO nudgescribe.messages VALUES"
                " ('c', 'r2', 5, 1, 'x', 'm', NULL, 'j', now())"
            )
        )
    assert wh.duplicate_message_keys("c", "r") == 6
    assert wh.duplicate_message_keys("c", "r2") == 0
    assert wh.duplicate_message_keys("c", "other") == 0
    assert wh.duplicate_message_keys_by_run([("c", "r"), ("c", "r2"), ("c", "other")]) == {
        ("c", "r"): 6,
        ("c", "r2"): 0,
        ("c", "other"): 0,
    }
    # Each run is its own campaign and run pair: ("c", "r") is not asked for here.
    assert wh.duplicate_message_keys_by_run([("c", "r2"), ("c2", "r")]) == {
        ("c", "r2"): 0,
        ("c2", "r"): 0,
    }


@pytest.mark.parametrize("row_nums", [[1, 2, 2, 3], [1, 3, 2, 4]], ids=["repeated", "reordered"])
@pytest.mark.parametrize("through", ["path", "filesystem"])
def test_a_file_repeating_or_reordering_row_num_is_refused(
    any_warehouse: Warehouse, tmp_path: Path, row_nums: list[int], through: str
) -> None:
    """No index is needed to keep keys unique: every load checks each file's row_num."""
    old = write_message_files(tmp_path / "old", "c", "r", files=1, rows_per_file=4, text="old")
    any_warehouse.replace_messages("c", "r", old)
    table = message_table("c", "r", 0, 4, text="new")
    index = table.schema.get_field_index("row_num")
    table = table.set_column(index, table.schema.field(index), pa.array(row_nums, pa.int64()))
    pq.write_table(table, tmp_path / "bad.parquet")
    if through == "path":
        loads, filesystem = [load_for(tmp_path / "bad.parquet", 0, 4)], None
    else:  # the object-store path: Arrow batches streamed from a pyarrow filesystem
        loads = [MessageFileLoad(0, "bad.parquet", row_count=4)]
        filesystem = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())

    with pytest.raises(LoadMismatchError, match="repeats or reorders row_num"):
        any_warehouse.replace_messages("c", "r", loads, filesystem=filesystem)

    rows = _messages(any_warehouse, "c", "r")
    assert len(rows) == 4 and all(r[3].startswith("old ") for r in rows)


def test_row_num_must_keep_rising_from_one_batch_to_the_next() -> None:
    load = MessageFileLoad(0, "part-0.parquet", row_count=6)

    def keys(row_nums: list[int], file_num: int = 0) -> pa.Table:
        return pa.table({"file_num": [file_num] * len(row_nums), "row_num": row_nums})

    assert check_file_keys(keys([1, 2, 3]), None, load) == 3
    assert check_file_keys(keys([4, 9]), 3, load) == 9
    assert check_file_keys(keys([]), 9, load) == 9
    with pytest.raises(LoadMismatchError, match="repeats or reorders"):
        check_file_keys(keys([9, 10]), 9, load)
    with pytest.raises(LoadMismatchError, match="another file_num"):
        check_file_keys(keys([10, 11], file_num=1), 9, load)


def test_views_join_messages_with_campaign_runs_and_customers(
    any_warehouse: Warehouse, tmp_path: Path
) -> None:
    wh = any_warehouse
    wh.replace_snapshot("campaigns", CAMPAIGNS)
    wh.replace_snapshot(
        "campaign_runs",
        pa.table(
            {
                "campaign_id": ["c-1", "c-1"],
                "run_id": ["r-1", "r-2"],
                "run_number": [1, 2],
                "status": ["completed", "running"],
                "started_at": ["2024-03-01T00:00:00Z", None],
                "completed_at": [None, None],
                "message_count": [3, None],
            }
        ),
    )
    wh.replace_customers("g-1", _customers(["a1"], profile='{"tier": "gold"}'))
    path = tmp_path / "m.parquet"
    pq.write_table(message_table("c-1", "r-1", 0, 3, customer_ids=["a1", "zz", "a1"]), path)
    wh.replace_messages("c-1", "r-1", [load_for(path, 0, 3)])

    with wh.engine.connect() as conn:
        joined = conn.execute(
            text(
                "SELECT row_num, run_number, campaign_name, customer_group_id, extended_profile"
                " FROM nudgescribe.campaign_messages ORDER BY row_num"
            )
        ).all()
        summary = conn.execute(
            text(
                "SELECT run_id, run_number, expected_message_count, file_count,"
                " loaded_message_count, distinct_customers"
                " FROM nudgescribe.campaign_run_summary ORDER BY run_id"
            )
        ).all()
    assert [(*r[:4], _json(r[4])) for r in joined] == [
        (1, 1, "Spring", "g-1", {"tier": "gold"}),
        (2, 1, "Spring", "g-1", None),
        (3, 1, "Spring", "g-1", {"tier": "gold"}),
    ]
    assert [tuple(r) for r in summary] == [("r-1", 1, 3, 1, 3, 2), ("r-2", 2, None, 0, 0, 0)]


def test_campaign_dates_land_as_dates(warehouse: Warehouse) -> None:
    warehouse.replace_snapshot("campaigns", CAMPAIGNS)
    with warehouse.engine.connect() as conn:
        start = conn.execute(
            text("SELECT start_date FROM nudgescribe.campaigns WHERE campaign_id = 'c-1'")
        ).scalar_one()
    assert start == date(2024, 3, 1)


def test_duckdb_replaces_a_loaded_run_within_a_small_memory_limit(tmp_path: Path) -> None:
    """An ART index on messages (held in memory) made this run out of memory (sql/003)."""
    files = write_message_files(tmp_path / "files", "c", "r", files=20, rows_per_file=10_000)
    url = f"duckdb:///{tmp_path / 'small.duckdb'}?memory_limit=16MB"
    with Warehouse(url) as wh:
        wh.migrate()
        assert wh.replace_messages("c", "r", files) == 200_000
        assert wh.replace_messages("c", "r", files) == 200_000
        assert wh.message_count("c", "r") == 200_000
        assert wh.duplicate_message_keys("c", "r") == 0


def test_text_times_without_an_offset_are_utc_and_a_bad_one_names_its_column() -> None:
    from nudge_pipeline.warehouse.arrow_input import conform
    from nudge_pipeline.warehouse.tables import CAMPAIGNS

    given = ("campaign_id", "created_at")
    others = {name: None for name in CAMPAIGNS.column_names if name not in given}

    def campaigns(created_at: list[str | None]) -> pa.Table:
        ids = [str(i) for i in range(len(created_at))]
        return pa.table({"campaign_id": pa.array(ids), "created_at": pa.array(created_at)})

    times = ["2024-05-01T10:00:00", "2024-05-01T12:00:00+02:00", None]
    table = conform(campaigns(times), CAMPAIGNS, others)
    moment = datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert table.column("created_at").to_pylist() == [moment, moment, None]
    with pytest.raises(InputError, match=r"campaigns\.created_at: cannot convert"):
        conform(campaigns(["yesterday"]), CAMPAIGNS, others)
