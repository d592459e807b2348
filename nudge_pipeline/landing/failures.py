"""One short cause per failure, so `sync` can say what went wrong in one line."""

from __future__ import annotations

from nudge_pipeline.lake.errors import LakeInputError
from nudge_pipeline.landing.keys import PartitionKeyError
from nudge_pipeline.nudgescribe import errors as api
from nudge_pipeline.settings import SettingsError
from nudge_pipeline.warehouse import WarehouseError

QUOTA_EXHAUSTED = "quota exhausted"
# Causes after which no other partition can succeed in this run either.
GLOBAL_CAUSES = frozenset(
    {QUOTA_EXHAUSTED, "bad credentials", "unreachable API", "bad configuration"}
)


def cause_of(exc: BaseException) -> str:
    if isinstance(exc, api.QuotaExhaustedError):
        return QUOTA_EXHAUSTED
    if isinstance(exc, api.AuthError):
        return "bad credentials"
    if isinstance(exc, SettingsError):  # the client's ConfigError is one
        return "bad configuration"
    if isinstance(exc, api.ContractViolationError):
        return "contract violation"
    if isinstance(exc, api.ExportFailedError):
        return "export failed"
    if isinstance(exc, api.ExportTimeoutError):
        return "export timed out"
    if isinstance(exc, api.NotFoundError):
        return "not found"
    if isinstance(exc, api.RequestError):
        return "request rejected"
    if isinstance(exc, api.TransientError):  # the client's form of every transport error
        return "unreachable API" if exc.status is None else "API kept failing"
    if isinstance(exc, LakeInputError):
        return "unreadable export file"
    if isinstance(exc, PartitionKeyError):
        return "unusable id"
    if isinstance(exc, WarehouseError):
        return "warehouse error"
    if isinstance(exc, OSError):
        return "storage error"
    return "unexpected error"


def describe(exc: BaseException) -> str:
    """The error's own message on one line (client errors are already redacted)."""
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
