"""Lake paths and the encoding of ids into path components.

An id becomes one path component by percent-encoding (upper-case hex, UTF-8) every byte
outside ``[A-Za-z0-9_-]``. So ``/``, ``\\``, ``.``, ``%``, ``=``, NUL and glob characters
never appear literally, ``.``/``..`` cannot be formed, and the mapping is injective.

An encoded id longer than ``MAX_ENCODED_ID_LEN`` would break file-system limits (255
bytes per component), so it is cut and suffixed with ``~`` and the SHA-256 of the id.
A literal ``~`` is always encoded, so such a name cannot equal any other id's encoding.

Folders are named by the encoded id (or the sync's time) alone, never ``key=value``: a
hive reader turns each ``key=value`` folder into a column and infers its type from the
values, so ids such as ``0042`` would come back as the number 42 (``0042`` and ``42`` even
as one value, which pandas refuses), and a key named like a file column would clash with it
(pyarrow) or replace it (DuckDB). With plain folders every reader returns exactly the
columns inside the files (``campaign_id``, ``run_id``, ``customer_group_id``,
``synced_at``), which are the source of truth. Encoded ids never hold ``=``.

Lakes written before used ``key=value`` folders named like the columns
(``campaign_id=…``); ``LEGACY_*`` and the ``legacy_*`` functions name that layout (see
``migrate``).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

MAX_ENCODED_ID_LEN = 200
_SAFE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_HASH_MARK = "~"
_SNAPSHOT_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_MESSAGE_PART = re.compile(r"part-(\d+)\.parquet")

MESSAGES = "messages"
CUSTOMERS = "customers"
STATE = "_state"

LEGACY_CAMPAIGN_KEY = "campaign_id"
LEGACY_RUN_KEY = "run_id"
LEGACY_CUSTOMER_GROUP_KEY = "customer_group_id"
LEGACY_SYNC_KEY = "synced_at"

# Fixed width, so sync folders sort by time; also what snapshot assets pass as sync_id.
SYNC_ID_FORMAT = "%Y%m%dT%H%M%S%fZ"


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
    return f"{MESSAGES}/{encode_id(campaign_id)}/{encode_id(run_id)}"


def legacy_message_dir(campaign_id: str, run_id: str) -> str:
    """Where lakes of the legacy layout hold a run's files."""
    campaign, run = encode_id(campaign_id), encode_id(run_id)
    return f"{MESSAGES}/{LEGACY_CAMPAIGN_KEY}={campaign}/{LEGACY_RUN_KEY}={run}"


def message_file_path(campaign_id: str, run_id: str, file_num: int) -> str:
    """Lake-relative path of one export file's Parquet."""
    return f"{message_dir(campaign_id, run_id)}/part-{_file_num(file_num)}.parquet"


def legacy_message_file_path(campaign_id: str, run_id: str, file_num: int) -> str:
    return f"{legacy_message_dir(campaign_id, run_id)}/part-{_file_num(file_num)}.parquet"


def message_part_num(file_name: str) -> int | None:
    """The file_num of a final ``part-<n>.parquet`` name, else None (temps, strangers)."""
    match = _MESSAGE_PART.fullmatch(file_name)
    return int(match.group(1)) if match else None


def customers_dir(group_id: str) -> str:
    return f"{CUSTOMERS}/{encode_id(group_id)}"


def legacy_customers_dir(group_id: str) -> str:
    return f"{CUSTOMERS}/{LEGACY_CUSTOMER_GROUP_KEY}={encode_id(group_id)}"


def is_legacy_folder(name: str) -> bool:
    """True for a ``key=value`` folder name: the legacy layout (encoded ids hold no ``=``)."""
    return "=" in name


def is_customers_path(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 3 and parts[0] == CUSTOMERS and not is_legacy_folder(parts[1])


def legacy_customers_dir_of(rel: str) -> str:
    """The legacy folder of the group whose customers file is at ``rel``."""
    return f"{CUSTOMERS}/{LEGACY_CUSTOMER_GROUP_KEY}={rel.split('/')[1]}"


def customers_path(group_id: str, first_page: int, last_page: int) -> str:
    """Lake-relative path of the customers of one group's page range (inclusive)."""
    first, last = _file_num(first_page), _file_num(last_page)
    if last < first:
        raise ValueError(f"page range {first}-{last} is empty")
    return f"{customers_dir(group_id)}/part-{first}-{last}.parquet"


def snapshot_dir(name: str) -> str:
    if not _SNAPSHOT_NAME.fullmatch(name):
        raise ValueError(f"snapshot name {name!r} must match {_SNAPSHOT_NAME.pattern}")
    if name in (MESSAGES, CUSTOMERS):
        raise ValueError(f"{name!r} is a lake dataset, not a snapshot name")
    return name


def sync_time(sync_id: str) -> datetime:
    """The UTC time a sync id names: ``SYNC_ID_FORMAT`` or ISO 8601 (no offset means UTC)."""
    try:
        moment = datetime.strptime(sync_id, SYNC_ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        try:
            moment = datetime.fromisoformat(sync_id)
        except ValueError:
            raise ValueError(f"a sync id is a UTC time, got {sync_id!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def sync_folder(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(SYNC_ID_FORMAT)


def snapshot_path(name: str, sync_id: str) -> str:
    """Lake-relative path of one sync's snapshot of a small table, e.g. ``campaigns``.

    ``sync_id`` is the sync's UTC time (see ``sync_time``); the folder holds it in
    ``SYNC_ID_FORMAT``, so a name's sync folders sort oldest first.
    """
    return f"{snapshot_dir(name)}/{sync_folder(sync_time(sync_id))}/part-0.parquet"


def parse_snapshot_path(rel: str) -> tuple[str, datetime] | None:
    """``(name, synced_at)`` of a path made by ``snapshot_path``, else None."""
    parts = rel.split("/")
    if len(parts) != 3 or parts[0] in (MESSAGES, CUSTOMERS):
        return None
    if not _SNAPSHOT_NAME.fullmatch(parts[0]):
        return None
    moment = parse_sync_folder(parts[1])
    return None if moment is None else (parts[0], moment)


def parse_sync_folder(name: str) -> datetime | None:
    """The sync time a snapshot folder is named by, else None."""
    try:
        return datetime.strptime(name, SYNC_ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def export_state_path(campaign_id: str, run_id: str) -> str:
    return f"{STATE}/exports/campaign_id={encode_id(campaign_id)}/run_id={encode_id(run_id)}.json"


def claim_path(campaign_id: str, run_id: str) -> str:
    """Lake-relative path of the claim (lease) on one campaign run's landing."""
    return f"{STATE}/claims/campaign_id={encode_id(campaign_id)}/run_id={encode_id(run_id)}.json"
