"""Typed errors. Each carries the endpoint, the HTTP status and the server's message.

Messages pass through the redactor, so a server that echoes a token back cannot leak it.
"""

from __future__ import annotations

from typing import Any

from .redaction import redact


class NudgescribeError(Exception):
    """Base class: endpoint is "METHOD /path", status is None when no response arrived."""

    def __init__(self, endpoint: str, status: int | None, message: str) -> None:
        self.endpoint = endpoint
        self.status = status
        self.message = redact(message)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        status = self.status if self.status is not None else "no response"
        return f"{self.endpoint} ({status}): {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.endpoint, self.status, self.message))


class AuthError(NudgescribeError):
    """Credentials or token rejected, even after one fresh login."""


class RequestError(NudgescribeError):
    """The server refused the request as such; retrying it cannot help."""


class NotFoundError(RequestError):
    """The campaign, run, group or file does not exist for this account."""


class QuotaExhaustedError(NudgescribeError):
    """The account's usage quota is spent ("Usage limit exceeded."). Never retried."""


class TransientError(NudgescribeError):
    """5xx, dropped connection, timeout or cut body: worth retrying.

    outcome_unknown is True when the request may have reached the server.
    """

    def __init__(
        self,
        endpoint: str,
        status: int | None,
        message: str,
        *,
        retry_after: float | None = None,
        outcome_unknown: bool = True,
    ) -> None:
        super().__init__(endpoint, status, message)
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class UnreachableHostError(TransientError):
    """No connection to a host that has not answered yet (refused, unknown host): not retried.

    Nothing was sent. Once the host has answered, the same failure is a plain TransientError
    and retried.
    """

    def __init__(self, endpoint: str, status: int | None, message: str) -> None:
        super().__init__(endpoint, status, message, outcome_unknown=False)


class RateLimitedError(TransientError):
    """429 rate limiting: the request was refused, so retrying is always safe."""

    def __init__(
        self, endpoint: str, status: int | None, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(endpoint, status, message, retry_after=retry_after, outcome_unknown=False)


class ContractViolationError(NudgescribeError):
    """A response that is not what the contract says (HTML, truncated JSON, wrong shape)."""


class DownloadRefusedError(RequestError):
    """A pre-signed URL failed the download policy (host, scheme, address, redirect)."""


class ExportFailedError(NudgescribeError):
    """The server reports the export job as failed."""


class ExportTimeoutError(TransientError):
    """The export did not complete before the deadline."""
