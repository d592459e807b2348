"""Stream an export CSV into Arrow record batches of strings, hashing the bytes on the way.

pyarrow reads the stream itself (from a readahead thread), so the hash and byte count are
taken inside ``read``: every byte pyarrow sees is hashed exactly once, in order, and the
file is never read twice nor held whole in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
import pyarrow.csv as pacsv

_BOM = b"\xef\xbb\xbf"
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


class _BackgroundSha256:
    """SHA-256 on its own thread (hashlib drops the GIL), so hashing overlaps parsing.

    One worker and a FIFO keep the update order; the bounded queue caps held memory.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._digest: str | None = None
        self._worker = threading.Thread(target=self._run, name="csv-sha256", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._sha.update(chunk)

    def update(self, data: bytes) -> None:
        if self._digest is not None:
            raise RuntimeError("bytes read after the digest was taken")
        self._queue.put(data)

    def hexdigest(self) -> str:
        if self._digest is None:
            self._queue.put(None)
            self._worker.join()
            self._digest = self._sha.hexdigest()
        return self._digest


class HashingReader(io.RawIOBase):
    """Pass-through reader that counts and hashes what is read, and can be shut off.

    Reads may come from pyarrow's readahead thread; the lock keeps hash order equal to
    stream order. ``source_error`` keeps the caller's stream failure so it is re-raised
    as itself (a retryable network error) rather than as a CSV error.
    """

    def __init__(self, source: Readable) -> None:
        super().__init__()
        self._source = source
        self._lock = threading.Lock()
        self._sha = _BackgroundSha256()
        self._shut = False
        self.byte_count = 0
        # RFC 4180 quotes come in pairs; an odd count at the end means one never closed.
        self.quotes = 0
        self.source_error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        with self._lock:
            if self._shut:
                return b""
            try:
                data = self._read_full(size)
            except BaseException as exc:
                self.source_error = exc
                raise
            if data:
                self._sha.update(data)
                self.byte_count += len(data)
                self.quotes += data.count(b'"')
            return data

    def _read_full(self, size: int) -> bytes:
        # pyarrow takes each short read as a whole block, and a CSV row spanning
        # several blocks fails to parse; network bodies return short reads freely.
        first = self._source.read(size)
        if not first or size is None or size < 0 or len(first) >= size:
            return bytes(first or b"")
        parts = [bytes(first)]
        missing = size - len(first)
        while missing > 0:
            more = self._source.read(missing)
            if not more:
                break
            parts.append(bytes(more))
            missing -= len(more)
        return b"".join(parts)

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self, chunk: int = 1024 * 1024) -> None:
        """Read to EOF so the hash covers the whole stream."""
        while self.read(chunk):
            pass

    def shut(self) -> None:
        """Make later reads (e.g. a late readahead) return EOF without touching the source.

        Also stops the hashing thread.
        """
        with self._lock:
            self._shut = True
            self._sha.hexdigest()

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

    def read(self, size: int = -1, /) -> bytes:
        if self._head.nbytes:
            if size is None or size < 0:
                size = self._head.nbytes
            out = self._head[:size].tobytes()
            self._head = self._head[size:]
            return out
        return self._rest.read(size)

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
