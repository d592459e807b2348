"""The warehouse: versioned DDL from sql/, bulk loaders per dialect, atomic replaces."""

from nudge_pipeline.warehouse.errors import (
    InputError,
    LoadMismatchError,
    LockTimeoutError,
    MigrationError,
    WarehouseError,
)
from nudge_pipeline.warehouse.loaders.base import MessageFileLoad
from nudge_pipeline.warehouse.run_status import LOAD_STATUSES, LoadStatus, RunStatus
from nudge_pipeline.warehouse.tables import SNAPSHOT_TABLES, SnapshotName
from nudge_pipeline.warehouse.warehouse import CustomersLoad, RunLoad, Warehouse

__all__ = [
    "LOAD_STATUSES",
    "SNAPSHOT_TABLES",
    "CustomersLoad",
    "InputError",
    "LoadMismatchError",
    "LoadStatus",
    "LockTimeoutError",
    "MessageFileLoad",
    "MigrationError",
    "RunLoad",
    "RunStatus",
    "SnapshotName",
    "Warehouse",
    "WarehouseError",
]
