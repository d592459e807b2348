"""Errors raised by the warehouse layer."""

from __future__ import annotations


class WarehouseError(Exception):
    """Base class of warehouse errors."""


class MigrationError(WarehouseError):
    """The sql/ files cannot be applied as they are."""


class InputError(WarehouseError, ValueError):
    """Rows handed to the warehouse do not fit the target table."""


class LoadMismatchError(WarehouseError):
    """A load inserted a different number of rows than its files declare; nothing was kept."""


class LockTimeoutError(WarehouseError):
    """The warehouse stayed locked by another writer for longer than the lock timeout."""
