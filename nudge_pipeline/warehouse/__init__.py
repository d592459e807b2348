"""The warehouse: versioned DDL from sql/, bulk loaders per dialect, atomic replaces."""

from nudge_pipeline.warehouse.errors import (
    InputError,
    LoadMismatchError,
    LockTimeoutError,
    MigrationError,
    WarehouseError,
)
from nudge_pipeline.warehouse.loaders.base import MessageFileLoad
from nudge_pipeline.warehouse.tables import SNAPSHOT_TABLES, SnapshotName
from nudge_pipeline.warehouse.warehouse import Warehouse

__all__ = [
    "SNAPSHOT_TABLES",
    "InputError",
    "LoadMismatchError",
    "LockTimeoutError",
    "MessageFileLoad",
    "MigrationError",
    "SnapshotName",
    "Warehouse",
    "WarehouseError",
]
