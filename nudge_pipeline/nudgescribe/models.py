"""Typed response models.

Every id is a str (servers may send ints; customer ids keep their leading zeros).
Timestamps stay exactly as the server sent them (str), so nothing is lost or re-zoned
here; the warehouse layer parses them. Keys are stripped of surrounding white space
(the vendor's "created_at\\t" quirk) and unknown keys are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ContractViolationError


def normalise_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).strip(): value for key, value in data.items()}


class Record:
    """A response object with normalised keys and typed accessors."""

    def __init__(self, data: Any, endpoint: str, what: str) -> None:
        if not isinstance(data, Mapping):
            raise ContractViolationError(
                endpoint, 200, f"expected {what} to be an object, got {type(data).__name__}"
            )
        self.data = normalise_keys(data)
        self.endpoint = endpoint
        self.what = what

    def _fail(self, key: str, problem: str) -> ContractViolationError:
        return ContractViolationError(self.endpoint, 200, f"{self.what}.{key} {problem}")

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def id(self, key: str) -> str:
        value = self.opt_id(key)
        if value is None or value == "":
            raise self._fail(key, "is missing")
        return value

    def opt_id(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self._fail(key, f"must be a string or integer id, got {type(value).__name__}")
        return str(value).strip()

    def opt_str(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise self._fail(key, f"must be a string, got {type(value).__name__}")

    def opt_int(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            raise self._fail(key, "must be an integer, got a boolean")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        raise self._fail(key, f"must be an integer, got {type(value).__name__}")

    def opt_float(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise self._fail(key, f"must be a number, got {type(value).__name__}")

    def int(self, key: str) -> int:
        value = self.opt_int(key)
        if value is None:
            raise self._fail(key, "is missing")
        return value

    def opt_bool(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise self._fail(key, f"must be a boolean, got {type(value).__name__}")

    def object(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError:
                raise self._fail(key, "is not a JSON object") from None
        if not isinstance(value, Mapping):
            raise self._fail(key, f"must be an object, got {type(value).__name__}")
        return dict(value)


def as_list(data: Any, endpoint: str, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise ContractViolationError(
            endpoint, 200, f"expected a list of {what}, got {type(data).__name__}"
        )
    return data


@dataclass(frozen=True)
class Workspace:
    workspace_id: str
    workspace_name: str | None


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    campaign_name: str | None
    workspace_id: str
    workspace_name: str | None
    customer_group_id: str | None
    status: str | None
    stage: str | None
    start_date: str | None
    end_date: str | None
    created_at: str | None
    updated_at: str | None

    @classmethod
    def from_api(cls, raw: Any, workspace: Workspace, endpoint: str) -> Campaign:
        r = Record(raw, endpoint, "campaign")
        return cls(
            campaign_id=r.id("campaign_id"),
            campaign_name=r.opt_str("campaign_name"),
            workspace_id=r.opt_id("workspace_id") or workspace.workspace_id,
            workspace_name=workspace.workspace_name,
            customer_group_id=r.opt_id("customer_group_id"),
            status=r.opt_str("status"),
            stage=r.opt_str("stage"),
            start_date=r.opt_str("start_date"),
            end_date=r.opt_str("end_date"),
            created_at=r.opt_str("created_at"),
            updated_at=r.opt_str("updated_at"),
        )


@dataclass(frozen=True)
class CampaignRun:
    run_id: str
    campaign_id: str
    run_number: int | None
    status: str | None
    started_at: str | None
    completed_at: str | None
    message_count: int | None

    @classmethod
    def from_api(cls, raw: Any, campaign_id: str, endpoint: str) -> CampaignRun:
        r = Record(raw, endpoint, "run")
        return cls(
            run_id=r.id("run_id"),
            campaign_id=r.opt_id("campaign_id") or campaign_id,
            run_number=r.opt_int("run_number"),
            status=r.opt_str("status"),
            started_at=r.opt_str("started_at"),
            completed_at=r.opt_str("completed_at"),
            message_count=r.opt_int("message_count"),
        )


@dataclass(frozen=True)
class RunMessage:
    customer_id: str
    message: str

    @classmethod
    def from_api(cls, raw: Any, endpoint: str) -> RunMessage:
        r = Record(raw, endpoint, "message")
        return cls(customer_id=r.id("customer_id"), message=r.opt_str("message") or "")


@dataclass(frozen=True)
class CustomerGroup:
    customer_group_id: str
    account_id: str | None
    workspace_id: str
    group_name: str | None
    created_at: str | None
    updated_at: str | None
    created_by: str | None
    updated_by: str | None

    @classmethod
    def from_api(cls, raw: Any, workspace_id: str, endpoint: str) -> CustomerGroup:
        r = Record(raw, endpoint, "customer group")
        return cls(
            customer_group_id=r.id("customer_group_id"),
            account_id=r.opt_id("account_id"),
            workspace_id=r.opt_id("workspace_id") or workspace_id,
            group_name=r.opt_str("group_name"),
            created_at=r.opt_str("created_at"),
            updated_at=r.opt_str("updated_at"),
            created_by=r.opt_str("created_by"),
            updated_by=r.opt_str("updated_by"),
        )


@dataclass(frozen=True)
class Customer:
    customer_id: str
    account_id: str | None
    workspace_id: str | None
    customer_group_id: str
    # Field name -> value exactly as sent; values may be "enc:v1:" ciphertext.
    extended_profile: dict[str, Any] = field(hash=False)
    created_at: str | None
    updated_at: str | None
    created_by: str | None
    updated_by: str | None

    @classmethod
    def from_api(cls, raw: Any, group_id: str, endpoint: str) -> Customer:
        r = Record(raw, endpoint, "customer")
        return cls(
            customer_id=r.id("customer_id"),
            account_id=r.opt_id("account_id"),
            workspace_id=r.opt_id("workspace_id"),
            customer_group_id=r.opt_id("customer_group_id") or group_id,
            extended_profile=r.object("extended_profile"),
            created_at=r.opt_str("created_at"),
            updated_at=r.opt_str("updated_at"),
            created_by=r.opt_str("created_by"),
            updated_by=r.opt_str("updated_by"),
        )

    def __repr__(self) -> str:  # never print profile values
        return (
            f"Customer(customer_id={self.customer_id!r}, "
            f"customer_group_id={self.customer_group_id!r})"
        )


@dataclass(frozen=True)
class ProfileField:
    field_id: str
    workspace_id: str
    field_name: str
    field_type: str | None
    is_custom: bool | None
    created_at: str | None
    updated_at: str | None

    @classmethod
    def from_api(cls, raw: Any, workspace_id: str, endpoint: str) -> ProfileField:
        r = Record(raw, endpoint, "profile field")
        name = r.opt_str("field_name")
        if not name:
            raise ContractViolationError(endpoint, 200, "profile field.field_name is missing")
        return cls(
            field_id=r.id("field_id"),
            workspace_id=r.opt_id("workspace_id") or workspace_id,
            field_name=name,
            field_type=r.opt_str("field_type"),
            is_custom=r.opt_bool("is_custom"),
            created_at=r.opt_str("created_at"),
            updated_at=r.opt_str("updated_at"),
        )


@dataclass(frozen=True)
class CustomerPageInfo:
    pages: int
    page_size: int | None
    total: int | None

    @classmethod
    def from_api(cls, raw: Any, endpoint: str) -> CustomerPageInfo:
        r = Record(raw, endpoint, "customer pages")
        page_size, total = r.opt_int("page_size"), r.opt_int("total")
        if not r.has("pages") and page_size and total is not None:
            return cls(pages=-(-total // page_size), page_size=page_size, total=total)
        pages = r.int("pages")
        if pages < 0:
            raise ContractViolationError(endpoint, 200, "customer pages.pages is negative")
        return cls(pages=pages, page_size=page_size, total=total)


@dataclass(frozen=True)
class ExportStatus:
    """One answer of messages/pages. status and job_id are None when the server omits them."""

    num_files: int
    status: str | None
    job_id: str | None

    @classmethod
    def from_api(cls, raw: Any, endpoint: str) -> ExportStatus:
        r = Record(raw, endpoint, "export pages")
        # While a job is queued a server may name only its status.
        num_files = r.int("num_files") if r.has("num_files") or not r.has("status") else 0
        if num_files < 0:
            raise ContractViolationError(endpoint, 200, "export pages.num_files is negative")
        status = r.opt_str("status")
        return cls(
            num_files=num_files,
            status=status.strip().lower() if status else None,
            job_id=r.opt_id("job_id") or None,
        )

    @property
    def shows_job(self) -> bool:
        """True when the server has a live or finished export for the run (not a failed one)."""
        if self.status == "failed":
            return False
        return (
            self.job_id is not None
            or self.status in ("processing", "completed", "queued")
            or self.num_files > 0
        )


@dataclass(frozen=True)
class ExportResult:
    """A completed export. job_id is None only when a status-less server never named it."""

    job_id: str | None
    num_files: int
