"""Stream an export CSV into Arrow record batches of strings, hashing the bytes on the way.

pyarrow reads the stream itself (from a readahead thread), so the hash and byte count are
taken inside ``read_buffer``: every byte pyarrow sees is hashed exactly once, in order,
and the file is never read twice nor held whole in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

_BOM = b"\xef\xbb\xbf"
_QUOTE = ord('"')
_EMPTY = pa.py_buffer(b"")
_HEADER_CHUNK = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024
# pyarrow's default. One CSV row must fit in a block; bigger blocks cost peak memory, as
# the reader keeps several in flight.
BLOCK_SIZE = 1024 * 1024
# A row must fit in one block: files with longer rows are read again with the next size.
ROW_BLOCK_SIZES = (BLOCK_SIZE, 64 * 1024 * 1024)


class CsvContentError(ValueError):
    """The bytes are not an acceptable export CSV."""


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class HashingReader(io.RawIOBase):
    """Pass-through reader that counts and hashes what is read, and can be shut off.

    pyarrow reads through ``read_buffer`` from its readahead thread: each block is read
    into a buffer of Arrow's memory pool (reused from block to block, no fresh pages per
    block) and hashed in place on that thread (hashlib drops the GIL). The lock keeps
    hash order equal to stream order. ``source_error`` keeps the caller's stream failure
    so it is re-raised as itself (a retryable network error) rather than as a CSV error.
    """

    def __init__(self, source: Readable) -> None:
        super().__init__()
        self._source = source
        self._source_readinto = getattr(source, "readinto", None)
        self._lock = threading.Lock()
        self._sha = hashlib.sha256()
        self._shut = False
        self.byte_count = 0
        # RFC 4180 quotes come in pairs; an odd count at the end means one never closed.
        self.quotes = 0
        self.source_error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read_buffer(self, size: int) -> pa.Buffer:
        with self._lock:
            if self._shut:
                return _EMPTY
            try:
                block = self._read_full(size)
            except BaseException as exc:
                self.source_error = exc
                raise
            if block.size:
                self._sha.update(block)
                self.byte_count += block.size
                self.quotes += int(np.count_nonzero(np.frombuffer(block, np.uint8) == _QUOTE))
            return block

    def read(self, size: int = -1, /) -> bytes:
        return self.read_buffer(size).to_pybytes()

    def _read_full(self, size: int) -> pa.Buffer:
        if size is None or size < 0:
            return pa.py_buffer(bytes(self._source.read() or b""))
        # pyarrow takes each short read as a whole block, and a CSV row spanning
        # several blocks fails to parse; network bodies return short reads freely.
        block = pa.allocate_buffer(size)
        view = memoryview(block).cast("B")
        filled = 0
        while filled < size:
            got = self._read_into(view[filled:])
            if not got:
                break
            filled += got
        return block if filled == size else block.slice(0, filled)

    def _read_into(self, view: memoryview) -> int:
        if self._source_readinto is not None:
            return int(self._source_readinto(view) or 0)
        data = self._source.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self, chunk: int = 1024 * 1024) -> None:
        """Read to EOF so the hash covers the whole stream."""
        while self.read_buffer(chunk).size:
            pass

    def shut(self) -> None:
        """Make later reads (e.g. a late readahead) return EOF without touching the source."""
        with self._lock:
            self._shut = True

    def hexdigest(self) -> str:
        """Digest of everything read so far; call once reading is over."""
        with self._lock:
            return self._sha.hexdigest()


class _Replay(io.RawIOBase):
    """Serve already-read bytes first, then the rest of the stream."""

    def __init__(self, head: bytes, rest: HashingReader) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read_buffer(self, size: int) -> pa.Buffer:
        if self._head.nbytes:
            if size is None or size < 0:
                size = self._head.nbytes
            out = pa.py_buffer(self._head[:size].tobytes())
            self._head = self._head[size:]
            return out
        return self._rest.read_buffer(size)

    def read(self, size: int = -1, /) -> bytes:
        return self.read_buffer(size).to_pybytes()

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@dataclass(frozen=True)
class CsvBatches:
    """The header and a batch iterator whose columns are ``c0..cN`` in header order."""

    columns: tuple[str, ...]
    batches: Iterator[pa.RecordBatch]


def _header_end(buf: bytes, start: int, in_quotes: bool) -> tuple[int, bool]:
    """Index of the newline ending the header row (-1 if not in ``buf`` yet), quote state."""
    for i in range(start, len(buf)):
        c = buf[i]
        if c == 0x22:
            in_quotes = not in_quotes
        elif c == 0x0A and not in_quotes:
            return i, in_quotes
    return -1, in_quotes


def _split_header(reader: HashingReader) -> tuple[tuple[str, ...], bytes]:
    buf = b""
    scanned = 0
    in_quotes = False
    while True:
        end, in_quotes = _header_end(buf, scanned, in_quotes)
        if end != -1:
            line, rest = buf[:end], buf[end + 1 :]
            break
        scanned = len(buf)
        if scanned > MAX_HEADER_BYTES:
            raise CsvContentError(f"no header row end within {MAX_HEADER_BYTES} bytes")
        chunk = reader.read(_HEADER_CHUNK)
        if not chunk:
            line, rest = buf, b""
            break
        buf += chunk
    if line.startswith(_BOM):
        line = line[len(_BOM) :]
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip():
        raise CsvContentError("empty file: no header row")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvContentError(f"header is not valid UTF-8 (byte {exc.start})") from None
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    if len(rows) != 1:
        raise CsvContentError("header row could not be parsed")
    return tuple(rows[0]), rest


def open_csv_batches(reader: HashingReader, block_size: int = BLOCK_SIZE) -> CsvBatches:
    """Read the header, then stream the rows as string-only record batches.

    Raises CsvContentError for a missing or unusable header; row errors (ragged rows,
    invalid UTF-8) surface as ``pyarrow.ArrowInvalid`` while iterating.
    """
    columns, rest = _split_header(reader)
    names = [f"c{i}" for i in range(len(columns))]
    if not rest:
        rest = reader.read(_HEADER_CHUNK)
        if not rest:
            return CsvBatches(columns, iter(()))
    try:
        csv_reader = _open(rest, reader, names, block_size)
    except pa.ArrowInvalid as exc:
        # Only blank lines after the header: pyarrow calls that empty, we call it 0 rows.
        if "Empty CSV file" in str(exc):
            return CsvBatches(columns, iter(()))
        raise
    return CsvBatches(columns, _iterate(csv_reader))


def _open(
    rest: bytes, reader: HashingReader, names: list[str], block_size: int
) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        _Replay(rest, reader),
        read_options=pacsv.ReadOptions(column_names=names, block_size=block_size, use_threads=True),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=True,
        ),
    )


def _iterate(csv_reader: pacsv.CSVStreamingReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from csv_reader
    finally:
        csv_reader.close()
