"""NudgescribeClient: the only code that speaks HTTP to Nudgescribe."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, BinaryIO, TypeVar

from . import quirks
from .config import ClientConfig
from .download import Downloader
from .errors import ContractViolationError, TransientError
from .models import (
    Campaign,
    CampaignRun,
    Customer,
    CustomerGroup,
    CustomerPageInfo,
    ExportStatus,
    ProfileField,
    Record,
    RunMessage,
    Workspace,
    as_list,
)
from .redaction import log
from .transport import Transport

T = TypeVar("T")


def _page_signature(items: list[Any]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(repr(item).encode("utf-8", errors="replace"))
    return digest.hexdigest()


class NudgescribeClient:
    """Thread-safe; one instance can serve parallel downloads (see ClientConfig.pool_size)."""

    def __init__(self, config: ClientConfig | None = None) -> None:
        self.config = config or ClientConfig.from_env()
        self._transport = Transport(self.config)
        self._downloader = Downloader(self._transport)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self._downloader.close()
        self._transport.close()

    def __enter__(self) -> NudgescribeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def authenticate(self) -> bool:
        """Log in now with api_key and api_secret (True).

        With a configured token there is nothing to send (False): the first call checks it.
        """
        if self.config.token:
            return False
        self._transport.tokens.current()
        return True

    # -- campaigns and runs ---------------------------------------------------------------
    def _campaign_groups(self) -> list[tuple[Workspace, list[Any]]]:
        endpoint = f"POST {quirks.CAMPAIGNS_PATH}"
        groups: list[tuple[Workspace, list[Any]]] = []
        for raw in as_list(
            self._transport.call("POST", quirks.CAMPAIGNS_PATH, {}), endpoint, "workspaces"
        ):
            record = Record(raw, endpoint, "workspace")
            if record.has("campaigns"):
                workspace = Workspace(record.id("workspace_id"), record.opt_str("workspace_name"))
                groups.append((workspace, as_list(record.data["campaigns"], endpoint, "campaigns")))
            elif record.has("campaign_id"):
                # Tolerate a flat list of campaigns.
                workspace = Workspace(record.id("workspace_id"), record.opt_str("workspace_name"))
                groups.append((workspace, [raw]))
            else:
                workspace = Workspace(record.id("workspace_id"), record.opt_str("workspace_name"))
                groups.append((workspace, []))
        return groups

    def list_workspaces(self) -> list[Workspace]:
        seen: dict[str, Workspace] = {}
        for workspace, _ in self._campaign_groups():
            seen.setdefault(workspace.workspace_id, workspace)
        return list(seen.values())

    def list_campaigns(self) -> list[Campaign]:
        """Each campaign once. A campaign listed twice alike is kept once; listed twice with
        different details, nothing says which is true, so the listing is refused."""
        endpoint = f"POST {quirks.CAMPAIGNS_PATH}"
        found: dict[str, Campaign] = {}
        for workspace, campaigns in self._campaign_groups():
            for raw in campaigns:
                campaign = Campaign.from_api(raw, workspace, endpoint)
                seen = found.setdefault(campaign.campaign_id, campaign)
                if seen != campaign:
                    raise ContractViolationError(
                        endpoint,
                        200,
                        f"campaign {campaign.campaign_id} is listed twice with different details",
                    )
        return list(found.values())

    def list_runs(self, campaign_id: str) -> list[CampaignRun]:
        endpoint = f"POST {quirks.RUN_HISTORY_PATH}"
        data = self._transport.call("POST", quirks.RUN_HISTORY_PATH, {"campaign_id": campaign_id})
        return [
            CampaignRun.from_api(raw, campaign_id, endpoint)
            for raw in as_list(data, endpoint, "runs")
        ]

    def iter_run_messages(self, campaign_id: str, run_id: str) -> Iterator[RunMessage]:
        """A run's messages through the paginated rerun endpoint (pages 1..N)."""
        endpoint = f"POST {quirks.RUN_MESSAGES_PATH}"
        seen: dict[str, int] = {}
        page = 1
        while True:
            body = {"campaign_id": campaign_id, "run_id": run_id, "page": page}
            data = self._transport.call("POST", quirks.RUN_MESSAGES_PATH, body)
            if isinstance(data, list):
                raw_messages, pages = data, None
            else:
                record = Record(data, endpoint, "run messages")
                echoed = record.opt_int("page")
                if echoed is not None and echoed != page:
                    raise ContractViolationError(
                        endpoint, 200, f"asked for page {page}, got page {echoed}"
                    )
                raw_messages = as_list(record.data.get("messages") or [], endpoint, "messages")
                pages = record.opt_int("pages")
            if not raw_messages:
                return
            self._check_repeat(seen, page, raw_messages, endpoint)
            for raw in raw_messages:
                yield RunMessage.from_api(raw, endpoint)
            if pages is None and isinstance(data, list):
                return
            if pages is not None and page >= pages:
                return
            page += 1

    @staticmethod
    def _check_repeat(seen: dict[str, int], page: int, items: list[Any], endpoint: str) -> None:
        signature = _page_signature(items)
        if signature in seen:
            raise ContractViolationError(
                endpoint, 200, f"page {page} repeats page {seen[signature]}: the server is looping"
            )
        seen[signature] = page

    # -- customers ------------------------------------------------------------------------
    def list_customer_groups(self, workspace_id: str) -> list[CustomerGroup]:
        endpoint = f"POST {quirks.CUSTOMER_GROUPS_PATH}"
        data = self._transport.call(
            "POST", quirks.CUSTOMER_GROUPS_PATH, {"workspace_id": workspace_id}
        )
        return [
            CustomerGroup.from_api(raw, workspace_id, endpoint)
            for raw in as_list(data, endpoint, "customer groups")
        ]

    def customer_page_info(self, group_id: str) -> CustomerPageInfo:
        endpoint = f"POST {quirks.CUSTOMER_PAGES_PATH}"
        data = self._transport.call(
            "POST", quirks.CUSTOMER_PAGES_PATH, {"customer_group_id": group_id}
        )
        return CustomerPageInfo.from_api(data, endpoint)

    def iter_customer_pages(self, group_id: str) -> Iterator[tuple[int, list[Customer]]]:
        """Pages 1..N; stops early at an empty page; checks the row total at the end.

        A mismatch with the server's total, or a page that repeats, raises
        ContractViolationError after the pages already yielded: callers commit only
        once the iterator is exhausted.
        """
        endpoint = f"POST {quirks.CUSTOMERS_PATH}"
        info = self.customer_page_info(group_id)
        seen: dict[str, int] = {}
        rows = 0
        for page in range(1, info.pages + 1):
            body = {"customer_group_id": group_id, "page": page}
            data = as_list(
                self._transport.call("POST", quirks.CUSTOMERS_PATH, body), endpoint, "customers"
            )
            if not data:
                break
            customers = [Customer.from_api(raw, group_id, endpoint) for raw in data]
            self._check_repeat(seen, page, [c.customer_id for c in customers], endpoint)
            rows += len(customers)
            yield page, customers
        if info.total is not None and rows != info.total:
            raise ContractViolationError(
                endpoint,
                200,
                f"customer group {group_id}: read {rows} customers, server total is {info.total}",
            )

    def list_profile_fields(self, workspace_id: str) -> list[ProfileField]:
        endpoint = f"POST {quirks.PROFILE_FIELDS_PATH}"
        data = self._transport.call(
            "POST", quirks.PROFILE_FIELDS_PATH, {"workspace_id": workspace_id}
        )
        return [
            ProfileField.from_api(raw, workspace_id, endpoint)
            for raw in as_list(data, endpoint, "profile fields")
        ]

    # -- export ---------------------------------------------------------------------------
    def export_status(self, campaign_id: str, run_id: str) -> ExportStatus:
        """One messages/pages call (usage-tracked: callers poll with backoff)."""
        endpoint = f"POST {quirks.EXPORT_PAGES_PATH}"
        body = {"campaign_id": campaign_id, "run_id": run_id}
        return ExportStatus.from_api(
            self._transport.call("POST", quirks.EXPORT_PAGES_PATH, body), endpoint
        )

    def publish(self, campaign_id: str, run_id: str) -> str | None:
        """Start an export; returns its job_id (None if only a status-less server knows it).

        Never blindly retried: after an attempt with an unknown outcome (dropped
        connection, read timeout, 5xx, garbled 200) the server's export status is checked
        first, and a job it shows is adopted instead of publishing (and paying) again.
        """
        endpoint = f"POST {quirks.PUBLISH_PATH}"
        body = {"campaign_id": campaign_id, "run_id": run_id}
        outcome_unknown = False

        def attempt() -> str | None:
            nonlocal outcome_unknown
            if outcome_unknown:
                status = self.export_status(campaign_id, run_id)
                if status.shows_job:
                    log.warning(
                        "publish outcome was unknown; the server shows an export "
                        "(status=%s, files=%d); adopting it instead of publishing again",
                        status.status,
                        status.num_files,
                    )
                    return status.job_id
                outcome_unknown = False
            try:
                data = self._transport.call("POST", quirks.PUBLISH_PATH, body, retry=False)
            except TransientError as exc:
                outcome_unknown = exc.outcome_unknown
                raise
            except ContractViolationError:
                outcome_unknown = True
                raise
            record = Record(data, endpoint, "publish response")
            job_id = record.opt_id("job_id")
            if not job_id:
                log.warning("publish answered without a job_id")
            return job_id or None

        return self._transport.with_retries(attempt)

    def download_export_file(
        self,
        campaign_id: str,
        run_id: str,
        file_num: int,
        consume: Callable[[BinaryIO], T],
        export_type: str = "utf8",
    ) -> T:
        """Stream one export file to consume(stream) and return what it returns.

        If the body is cut off, consume is called again with a fresh stream from byte 0:
        it must discard partial output when its stream raises. Never returns a partial file.
        """
        return self._downloader.download(campaign_id, run_id, file_num, consume, export_type)
