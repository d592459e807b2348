"""Bulk loaders, one per dialect, behind the `Loader` interface."""

from nudge_pipeline.warehouse.loaders.base import Loader
from nudge_pipeline.warehouse.loaders.duckdb import DuckDBLoader
from nudge_pipeline.warehouse.loaders.generic import GenericInsertLoader
from nudge_pipeline.warehouse.loaders.postgres import PostgresCopyLoader

# SQLAlchemy dialect name -> loader; any other dialect gets the generic batched INSERT.
LOADERS: dict[str, type[Loader]] = {
    "duckdb": DuckDBLoader,
    "postgresql": PostgresCopyLoader,
}


def loader_for(dialect: str) -> Loader:
    return LOADERS.get(dialect, GenericInsertLoader)()


__all__ = ["LOADERS", "Loader", "loader_for"]
