"""The Parquet lake: one folder per id, CSV → Parquet streaming, atomic writes, state files.

No HTTP and no Dagster here: callers hand in byte streams and Arrow tables.
"""

from .csv_stream import ROW_BLOCK_SIZES
from .errors import LakeInputError, LakeTableError, RowTooLargeError
from .messages import (
    MESSAGE_SCHEMA,
    MessageFileStats,
    existing_message_file,
    list_message_files,
    prune_message_files,
    write_message_file,
)
from .paths import (
    claim_path,
    customers_path,
    encode_id,
    export_state_path,
    message_dir,
    message_file_path,
    snapshot_path,
)
from .store import Lake, sweep_orphans, sweep_temps_of
from .tables import read_table, write_table

__all__ = [
    "MESSAGE_SCHEMA",
    "ROW_BLOCK_SIZES",
    "Lake",
    "LakeInputError",
    "LakeTableError",
    "MessageFileStats",
    "RowTooLargeError",
    "claim_path",
    "customers_path",
    "encode_id",
    "existing_message_file",
    "export_state_path",
    "list_message_files",
    "message_dir",
    "message_file_path",
    "prune_message_files",
    "read_table",
    "snapshot_path",
    "sweep_orphans",
    "sweep_temps_of",
    "write_message_file",
    "write_table",
]
