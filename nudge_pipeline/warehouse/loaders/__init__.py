"""Bulk loaders, one per dialect, behind the `Loader` interface."""

from nudge_pipeline.warehouse.loaders.base import Loader, loader_for

__all__ = ["Loader", "loader_for"]
