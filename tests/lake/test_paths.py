from __future__ import annotations

import io
import os
from pathlib import Path

import duckdb
import pytest

from nudge_pipeline.lake import (
    Lake,
    customers_path,
    encode_id,
    message_file_path,
    snapshot_path,
    write_message_file,
)
from nudge_pipeline.lake.paths import MAX_ENCODED_ID_LEN, is_hashed_id

from .conftest import all_files, csv_bytes

HOSTILE_IDS = [
    "..",
    ".",
    "../../../etc/passwd",
    "/abs",
    "a/b",
    "a\\b",
    "..\\..\\x",
    "nul\x00byte",
    "%",
    "%2F",
    "a%2Fb",
    "a=b",
    "campaign_id=evil",
    "~",
    "*",
    "?[a]{b}",
    " lead and trail ",
    "new\nline",
    "emoji😀",
    "007",
    "0007",
    "CON",
    "A",
    "a",
    "x" * 120,
    "x" * 300,
    "x" * 301,
    "é" * 150,
]
SHORT_HOSTILE = [i for i in HOSTILE_IDS if not is_hashed_id(encode_id(i))]


def test_encoded_ids_are_single_safe_components() -> None:
    for value in HOSTILE_IDS:
        encoded = encode_id(value)
        assert encoded not in ("", ".", "..")
        assert not set(encoded) & set("/\\\x00=.*?[]{} \n")
        assert len(encoded.encode()) <= MAX_ENCODED_ID_LEN


def test_encoding_is_injective_and_keeps_plain_ids_readable() -> None:
    encoded = [encode_id(v) for v in HOSTILE_IDS]
    assert len(set(encoded)) == len(HOSTILE_IDS)
    assert encode_id("cmp_123-abc") == "cmp_123-abc"
    assert encode_id("a/b") == "a%2Fb"
    assert encode_id("a%2Fb") == "a%252Fb"


def test_only_over_long_ids_are_hashed_and_the_hash_tells_them_apart() -> None:
    hashed = [v for v in HOSTILE_IDS if is_hashed_id(encode_id(v))]
    assert hashed == ["x" * 300, "x" * 301, "é" * 150]
    assert encode_id("x" * 300) != encode_id("x" * 301)
    # A cut never splits a character, so the prefix still URL-decodes to valid UTF-8.
    prefix = encode_id("é" * 150).split("~")[0]
    assert prefix == "%C3%A9" * (len(prefix) // 6)
    assert encode_id("a" + "é" * 150).split("~")[0].endswith("%C3%A9")


def test_invalid_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_id("")
    with pytest.raises(TypeError):
        encode_id(7)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        message_file_path("c", "r", -1)
    with pytest.raises(ValueError):
        snapshot_path("../campaigns", "2024")
    with pytest.raises(ValueError):
        customers_path("g", 3, 2)


def test_layout_follows_the_design() -> None:
    # Plain folders, not key=value: hive readers would turn those into typed columns.
    assert message_file_path("c1", "r1", 3) == "messages/c1/r1/part-3.parquet"
    assert message_file_path("0042", "a=b", 0) == "messages/0042/a%3Db/part-0.parquet"
    assert customers_path("g1", 1, 20) == "customers/g1/part-1-20.parquet"
    # Sync folders hold the sync's UTC time in one fixed-width form, so they sort by time.
    for sync_id in ("2024-05-01T10:00:00Z", "2024-05-01T12:00:00+02:00", "20240501T100000000000Z"):
        assert (
            snapshot_path("campaigns", sync_id) == "campaigns/20240501T100000000000Z/part-0.parquet"
        )
    with pytest.raises(ValueError, match="UTC time"):
        snapshot_path("campaigns", "last-tuesday")
    with pytest.raises(ValueError, match="not a snapshot name"):
        snapshot_path("messages", "2024-05-01T10:00:00Z")


def test_lake_refuses_relative_paths_that_escape(lake: Lake) -> None:
    for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "a\\..\\b", "./a"]:
        with pytest.raises(ValueError):
            lake.fs_path(bad)


def test_hostile_ids_stay_under_the_root_and_read_back_with_duckdb(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    root.mkdir()
    lake = Lake(root)
    outside_before = sorted(os.listdir(tmp_path))
    for n, campaign_id in enumerate(HOSTILE_IDS):
        data = csv_bytes([[f"{n:04d}", f"message for {campaign_id!r}"]])
        write_message_file(lake, campaign_id, HOSTILE_IDS[-n - 1], 0, io.BytesIO(data), "job")
    assert sorted(os.listdir(tmp_path)) == outside_before
    files = all_files(root)
    assert len(files) == len(HOSTILE_IDS)
    for path in files:
        assert path.resolve().is_relative_to(root.resolve())
        assert path.name == "part-0.parquet"

    pattern = f"{root.as_posix()}/messages/*/*/*.parquet"
    hive = duckdb.sql(
        f"SELECT campaign_id, run_id FROM read_parquet('{pattern}', hive_partitioning=true)"
    ).fetchall()
    from_columns = duckdb.sql(
        f"SELECT campaign_id, run_id FROM read_parquet('{pattern}', hive_partitioning=false)"
    ).fetchall()
    expected = {(c, HOSTILE_IDS[-n - 1]) for n, c in enumerate(HOSTILE_IDS)}
    # The columns inside each file always hold the original ids, and no folder name turns
    # into a hive column that could replace them, even for shortened (hashed) folder names.
    assert set(from_columns) == expected
    assert set(hive) == expected
    assert len(SHORT_HOSTILE) < len(HOSTILE_IDS)
