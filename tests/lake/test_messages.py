from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nudge_pipeline.lake.messages as messages_module
from nudge_pipeline.lake import (
    MESSAGE_SCHEMA,
    Lake,
    LakeInputError,
    existing_message_file,
    list_message_files,
    message_file_path,
    prune_message_files,
    write_message_file,
)

from .conftest import ChunkedStream, all_files, csv_bytes

QUIRKS = [
    ["0001", "emoji 😀🎉 and ünïcödé, 中文"],
    ["0002", "line one\nline two"],
    ["0003", "crlf inside\r\nthe value"],
    ["0004", 'She said "hi", then left'],
    ["0005", "NA"],
    ["0006", "null"],
    ["0007", "None"],
    ["0008", ""],
    ["0009", '""'],
    ["00010", "  spaces kept  "],
    ["0011", "a\ttab, a comma"],
    ["000", "0.50"],
    ["1e5", "TRUE"],
]


def read_back(lake: Lake, campaign_id: str, run_id: str, file_num: int) -> list[dict]:
    rel = message_file_path(campaign_id, run_id, file_num)
    return pq.read_table(lake.local_path(rel)).to_pylist()


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [False, True])
def test_every_quirk_round_trips_byte_for_byte(lake: Lake, line_end: str, bom: bool) -> None:
    data = csv_bytes(QUIRKS, line_end=line_end, bom=bom)
    stats = write_message_file(lake, "c1", "r1", 4, io.BytesIO(data), "job-9")

    rows = read_back(lake, "c1", "r1", 4)
    assert [[r["customer_id"], r["message"]] for r in rows] == QUIRKS
    assert [r["row_num"] for r in rows] == list(range(1, len(QUIRKS) + 1))
    assert {(r["campaign_id"], r["run_id"], r["file_num"], r["export_job_id"]) for r in rows} == {
        ("c1", "r1", 4, "job-9")
    }
    assert all(r["extra"] is None for r in rows)
    assert stats.row_count == len(QUIRKS)
    assert stats.byte_count == len(data)
    assert stats.sha256 == hashlib.sha256(data).hexdigest()
    assert stats.columns == ("customer_id", "message")
    assert stats.lake_path == "messages/c1/r1/part-4.parquet"
    assert stats.uri == str(lake.local_path(stats.lake_path))


def test_message_bytes_are_exactly_the_csv_bytes(lake: Lake) -> None:
    raw_values = ["x\r\ny", "x\ny", "x\ry", "😀" * 50, "é"]
    data = csv_bytes([[str(i), v] for i, v in enumerate(raw_values)], line_end="\r\n")
    write_message_file(lake, "c", "r", 0, io.BytesIO(data), "j")
    table = pq.read_table(lake.local_path(message_file_path("c", "r", 0)))
    assert [v.as_py().encode() for v in table["message"]] == [v.encode() for v in raw_values]


def test_schema_is_the_published_one(lake: Lake) -> None:
    write_message_file(lake, "c", "r", 0, io.BytesIO(csv_bytes([["1", "m"]])), "j")
    schema = pq.read_schema(lake.local_path(message_file_path("c", "r", 0)))
    assert schema.remove_metadata() == MESSAGE_SCHEMA
    assert [f.name for f in schema] == [
        "campaign_id",
        "run_id",
        "file_num",
        "row_num",
        "customer_id",
        "message",
        "extra",
        "export_job_id",
    ]


def test_only_the_per_file_ids_are_dictionary_encoded(lake: Lake) -> None:
    rows = [[f"{n:04d}", f"message {n}"] for n in range(500)]
    write_message_file(lake, "c", "r", 0, io.BytesIO(csv_bytes(rows)), "j")
    metadata = pq.ParquetFile(lake.local_path(message_file_path("c", "r", 0))).metadata
    group = metadata.row_group(0)
    dictionary = {
        group.column(i).path_in_schema
        for i in range(group.num_columns)
        if "RLE_DICTIONARY" in group.column(i).encodings
    }
    assert dictionary == {"campaign_id", "run_id", "file_num", "export_job_id"}


def test_extra_columns_are_kept_as_json(lake: Lake) -> None:
    header = ["segment", "customer_id", "campaign_id", "message", "tone"]
    rows = [["vip", "007", "other", "hi", "NA"], ["", "008", "", "yo", 'say "x"']]
    stats = write_message_file(lake, "c", "r", 0, io.BytesIO(csv_bytes(rows, header)), "j")
    got = read_back(lake, "c", "r", 0)
    assert [(r["customer_id"], r["message"], r["campaign_id"]) for r in got] == [
        ("007", "hi", "c"),
        ("008", "yo", "c"),
    ]
    assert [json.loads(r["extra"]) for r in got] == [
        {"segment": "vip", "campaign_id": "other", "tone": "NA"},
        {"segment": "", "campaign_id": "", "tone": 'say "x"'},
    ]
    assert list(json.loads(got[0]["extra"])) == ["segment", "campaign_id", "tone"]
    assert stats.columns == tuple(header)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(), st.text(alphabet=st.characters(max_codepoint=0x7F))),
        min_size=1,
        max_size=20,
    )
)
def test_extra_json_is_exactly_what_json_dumps_writes(rows: list[tuple[str, str]]) -> None:
    names = ["tone", 'a "quoted"\\name']
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([r[0] for r in rows]),
            pa.array(["1"] * len(rows)),
            pa.array([r[1] for r in rows]),
        ],
        names=["tone", "customer_id", "other"],
    )
    got = messages_module._extra_json(batch, [0, 2], names).to_pylist()
    assert got == [
        json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False) for row in rows
    ]


def test_tiny_network_reads_and_many_blocks_and_row_groups(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages_module, "ROW_GROUP_ROWS", 1000)
    rows = [[f"{i:08d}", f'msg {i}, "q"\nnext {"😀" * (i % 5)} {"x" * 80}'] for i in range(12_000)]
    data = csv_bytes(rows, line_end="\r\n", bom=True)
    assert len(data) > 1024 * 1024  # more than one CSV block
    stream = ChunkedStream(data, chunk=4093)
    stats = write_message_file(lake, "c", "r", 1, stream, "j")
    assert stats.byte_count == len(data)
    assert stats.sha256 == hashlib.sha256(data).hexdigest()
    path = lake.local_path(stats.lake_path)
    footer = pq.ParquetFile(path).metadata
    sizes = [footer.row_group(i).num_rows for i in range(footer.num_row_groups)]
    # Each row group gathers whole CSV batches until it holds at least 1000 rows.
    assert len(sizes) >= 2 and min(sizes[:-1]) >= 1000 and sum(sizes) == 12_000
    got = pq.read_table(path, columns=["row_num", "customer_id", "message"]).to_pylist()
    assert [[r["customer_id"], r["message"]] for r in got] == rows
    assert [r["row_num"] for r in got] == list(range(1, 12_001))


def test_header_split_across_reads(lake: Lake) -> None:
    data = csv_bytes([["1", "a"], ["2", "b"]], ["customer_id", "message", '"odd\nname"'])
    data = data.replace(b"\n1,a\n", b"\n1,a,x\n").replace(b"\n2,b\n", b"\n2,b,y\n")
    stats = write_message_file(lake, "c", "r", 0, ChunkedStream(data, chunk=1), "j")
    assert stats.columns == ("customer_id", "message", '"odd\nname"')
    assert [json.loads(r["extra"]) for r in read_back(lake, "c", "r", 0)] == [
        {'"odd\nname"': "x"},
        {'"odd\nname"': "y"},
    ]


@pytest.mark.parametrize("data", [b"customer_id,message\n", b"customer_id,message\r\n\r\n"])
def test_header_only_gives_an_empty_file(lake: Lake, data: bytes) -> None:
    stats = write_message_file(lake, "c", "r", 0, io.BytesIO(data), "j")
    assert stats.row_count == 0
    table = pq.read_table(lake.local_path(stats.lake_path))
    assert table.num_rows == 0
    assert table.schema.remove_metadata() == MESSAGE_SCHEMA


BAD_FILES = {
    "invalid utf-8 in a value": (b"customer_id,message\n1,ok\n2,bad \xff\xfe\n", "UTF-8"),
    "invalid utf-8 in the header": (b"customer_id,mess\xffage\n1,a\n", "UTF-8"),
    "missing message": (b"customer_id,text\n1,a\n", "missing column(s) message"),
    "missing customer_id": (b"id,message\n1,a\n", "missing column(s) customer_id"),
    "too many fields": (b"customer_id,message\n1,a\n2,b,c\n", "ragged row"),
    "too few fields": (b"customer_id,message\n1,a\n2\n", "ragged row"),
    "duplicate column": (b"customer_id,message,message\n1,a,b\n", "duplicated"),
    "empty": (b"", "no header"),
    "only a bom": (b"\xef\xbb\xbf", "no header"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_raise_and_write_nothing(lake: Lake, case: str) -> None:
    data, reason = BAD_FILES[case]
    with pytest.raises(LakeInputError) as err:
        write_message_file(lake, "camp-7", "run-3", 5, io.BytesIO(data), "j")
    text = str(err.value)
    assert "camp-7" in text and "run-3" in text and "file 5" in text
    assert reason in text
    assert (err.value.campaign_id, err.value.run_id, err.value.file_num) == ("camp-7", "run-3", 5)
    assert all_files(Path(lake.root)) == []


def test_a_failed_rewrite_keeps_the_previous_file(lake: Lake) -> None:
    good = csv_bytes([["1", "first version"]])
    write_message_file(lake, "c", "r", 0, io.BytesIO(good), "j1")
    with pytest.raises(LakeInputError):
        write_message_file(
            lake, "c", "r", 0, io.BytesIO(b"customer_id,message\n1,a\n2,\xff\n"), "j2"
        )
    assert [r["message"] for r in read_back(lake, "c", "r", 0)] == ["first version"]
    assert len(all_files(Path(lake.root))) == 1


class CutStream:
    """Serves some bytes, then fails like a dropped connection."""

    def __init__(self, data: bytes, cut_at: int) -> None:
        self._data = data[:cut_at]
        self.sent = False

    def read(self, size: int = -1, /) -> bytes:
        if not self.sent:
            self.sent = True
            return self._data
        raise ConnectionResetError("connection reset by peer")


def test_a_failing_stream_raises_its_own_error_and_a_retry_lands(lake: Lake) -> None:
    rows = [[f"{i:05d}", f"message number {i}"] for i in range(5000)]
    data = csv_bytes(rows)
    with pytest.raises(ConnectionResetError):
        write_message_file(lake, "c", "r", 0, CutStream(data, len(data) // 2), "j")
    assert all_files(Path(lake.root)) == []
    stats = write_message_file(lake, "c", "r", 0, io.BytesIO(data), "j")
    assert stats.row_count == 5000
    assert stats.sha256 == hashlib.sha256(data).hexdigest()


def test_existing_message_file_reads_the_footer(lake: Lake) -> None:
    assert existing_message_file(lake, "c", "r", 0) is None
    data = csv_bytes(QUIRKS, ["customer_id", "message"])
    written = write_message_file(lake, "c", "r", 0, io.BytesIO(data), "job-1")
    assert existing_message_file(lake, "c", "r", 0) == written
    # A Parquet file not written by us is not taken as landed.
    foreign = lake.local_path(message_file_path("c", "r", 1))
    pq.write_table(pq.read_table(lake.local_path(written.lake_path)), foreign)
    assert existing_message_file(lake, "c", "r", 1) is None


def test_list_and_prune_message_files(lake: Lake) -> None:
    for num in (0, 1, 2, 10):
        write_message_file(lake, "c", "r", num, io.BytesIO(csv_bytes([["1", "m"]])), "j")
    temp = lake.local_path("messages/c/r/.part-3.parquet.tmp-" + "a" * 32)
    temp.write_bytes(b"partial")
    assert [n for n, _ in list_message_files(lake, "c", "r")] == [0, 1, 2, 10]
    removed = prune_message_files(lake, "c", "r", num_files=2)
    assert removed == [
        "messages/c/r/part-2.parquet",
        "messages/c/r/part-10.parquet",
    ]
    assert [n for n, _ in list_message_files(lake, "c", "r")] == [0, 1]


def test_duckdb_reads_the_partition_with_original_ids(lake: Lake) -> None:
    write_message_file(lake, "c/1", "r 1", 0, io.BytesIO(csv_bytes(QUIRKS)), "j")
    pattern = f"{lake.root}/messages/*/*/*.parquet"
    got = duckdb.sql(
        f"SELECT campaign_id, run_id, customer_id, message FROM "
        f"read_parquet('{pattern}', hive_partitioning=true) ORDER BY row_num"
    ).fetchall()
    assert got == [("c/1", "r 1", cid, msg) for cid, msg in QUIRKS]
