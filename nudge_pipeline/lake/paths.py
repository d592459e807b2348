"""Hive-style lake paths and the encoding of ids into path components.

An id becomes one path component by percent-encoding (upper-case hex, UTF-8) every byte
outside ``[A-Za-z0-9_-]``. So ``/``, ``\\``, ``.``, ``%``, ``=``, NUL and glob characters
never appear literally, ``.``/``..`` cannot be formed, and the mapping is injective.
DuckDB ``read_parquet(..., hive_partitioning=true)`` and pyarrow's hive partitioning both
URL-decode the value, so readers get the original id back.

An encoded id longer than ``MAX_ENCODED_ID_LEN`` would break file-system limits (255
bytes per component), so it is cut and suffixed with ``~`` and the SHA-256 of the id.
A literal ``~`` is always encoded, so such a name cannot equal any other id's encoding.
Only for those ids does the hive value differ from the id; the original is always in
the ``campaign_id``/``run_id`` columns inside the file.
"""

from __future__ import annotations

import hashlib
import re

MAX_ENCODED_ID_LEN = 200
_SAFE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_HASH_MARK = "~"
_SNAPSHOT_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_MESSAGE_PART = re.compile(r"part-(\d+)\.parquet")

MESSAGES = "messages"
CUSTOMERS = "customers"
STATE = "_state"


def encode_id(value: str) -> str:
    """Encode an id as a safe, collision-free path component."""
    if not isinstance(value, str):
        raise TypeError(f"ids are strings, got {type(value).__name__}")
    if value == "":
        raise ValueError("an id must not be empty")
    encoded = _percent_encode(value)
    if len(encoded) <= MAX_ENCODED_ID_LEN:
        return encoded
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
    budget = MAX_ENCODED_ID_LEN - len(_HASH_MARK) - len(digest)
    # Cut on a character boundary: readers URL-decode the value and reject broken UTF-8.
    prefix: list[str] = []
    for char in value:
        piece = _percent_encode(char)
        budget -= len(piece)
        if budget < 0:
            break
        prefix.append(piece)
    return f"{''.join(prefix)}{_HASH_MARK}{digest}"


def _percent_encode(text: str) -> str:
    raw = text.encode("utf-8", errors="strict")
    return "".join(chr(b) if b in _SAFE_BYTES else f"%{b:02X}" for b in raw)


def is_hashed_id(component: str) -> bool:
    """True when an encoded id was shortened, so decoding it does not give the id."""
    return _HASH_MARK in component


def _file_num(file_num: int) -> int:
    if isinstance(file_num, bool) or not isinstance(file_num, int) or file_num < 0:
        raise ValueError(f"file_num must be a non-negative int, got {file_num!r}")
    return file_num


def message_dir(campaign_id: str, run_id: str) -> str:
    return f"{MESSAGES}/campaign_id={encode_id(campaign_id)}/run_id={encode_id(run_id)}"


def message_file_path(campaign_id: str, run_id: str, file_num: int) -> str:
    """Lake-relative path of one export file's Parquet."""
    return f"{message_dir(campaign_id, run_id)}/part-{_file_num(file_num)}.parquet"


def message_part_num(file_name: str) -> int | None:
    """The file_num of a final ``part-<n>.parquet`` name, else None (temps, strangers)."""
    match = _MESSAGE_PART.fullmatch(file_name)
    return int(match.group(1)) if match else None


def customers_dir(group_id: str) -> str:
    return f"{CUSTOMERS}/customer_group_id={encode_id(group_id)}"


def customers_path(group_id: str, first_page: int, last_page: int) -> str:
    """Lake-relative path of the customers of one group's page range (inclusive)."""
    first, last = _file_num(first_page), _file_num(last_page)
    if last < first:
        raise ValueError(f"page range {first}-{last} is empty")
    return f"{customers_dir(group_id)}/part-{first}-{last}.parquet"


def snapshot_dir(name: str) -> str:
    if not _SNAPSHOT_NAME.fullmatch(name):
        raise ValueError(f"snapshot name {name!r} must match {_SNAPSHOT_NAME.pattern}")
    return name


def snapshot_path(name: str, sync_id: str) -> str:
    """Lake-relative path of one sync's snapshot of a small table, e.g. ``campaigns``."""
    return f"{snapshot_dir(name)}/synced_at={encode_id(sync_id)}/part-0.parquet"


def export_state_path(campaign_id: str, run_id: str) -> str:
    return f"{STATE}/exports/campaign_id={encode_id(campaign_id)}/run_id={encode_id(run_id)}.json"


def claim_path(campaign_id: str, run_id: str) -> str:
    """Lake-relative path of the claim (lease) on one campaign run's landing."""
    return f"{STATE}/claims/campaign_id={encode_id(campaign_id)}/run_id={encode_id(run_id)}.json"
