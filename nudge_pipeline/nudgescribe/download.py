"""Streaming export files to a consumer, restarting from byte 0 when a body is cut off."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from nudge_pipeline import crashpoints

from . import quirks
from .errors import (
    ContractViolationError,
    DownloadRefusedError,
    NotFoundError,
    NudgescribeError,
    TransientError,
)
from .models import Record
from .redaction import log
from .transport import (
    StripVendorHeaders,
    Transport,
    error_message,
    make_session,
    map_status,
    transport_error,
)
from .urls import DownloadPolicy

T = TypeVar("T")
_MAX_SAME_HOST_REDIRECTS = 3
# Reissue a URL a little before the server says it expires.
_URL_EXPIRY_MARGIN = 2.0


class BodyStream(io.RawIOBase):
    """A response body as a raw stream that raises TransientError if the body is cut off."""

    def __init__(self, response: requests.Response, endpoint: str) -> None:
        self._raw = response.raw
        self._endpoint = endpoint
        length = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        self._expected = int(length) if length and length.isdigit() and not encoded else None
        self.received = 0
        self.failure: TransientError | None = None
        self._eof = False

    def readable(self) -> bool:
        return True

    def _cut(self, why: str) -> TransientError:
        self.failure = TransientError(
            self._endpoint, 200, f"body cut off after {self.received} bytes ({why})"
        )
        return self.failure

    def _pull(self, size: int) -> bytes:
        if self.failure is not None:
            raise self.failure
        if self._eof:
            return b""
        try:
            data: bytes = self._raw.read(size, decode_content=True)
        except (Urllib3Error, requests.RequestException, OSError, ValueError) as exc:
            raise self._cut(type(exc).__name__) from None
        if not data:
            self._eof = True
            if self._expected is not None and self.received != self._expected:
                raise self._cut(f"Content-Length is {self._expected}")
            return b""
        self.received += len(data)
        crashpoints.reached(crashpoints.MID_DOWNLOAD)
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._pull(len(view))
        view[: len(data)] = data
        return len(data)

    def drain(self, chunk_size: int) -> None:
        """Read what the consumer left (even if it closed its stream) to prove the body whole."""
        while self._pull(chunk_size):
            pass


class Downloader:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.config = transport.config
        # Storage gets its own session: no Nudgescribe headers, no .netrc, no shared cookies.
        self.storage = make_session(self.config.pool_size, StripVendorHeaders())
        self.storage.verify = self.config.verify_tls
        self.policy = DownloadPolicy(
            (self.config.api_host, *self.config.download_hosts), f"POST {quirks.FETCH_PATH}"
        )

    def close(self) -> None:
        self.storage.close()

    def download(
        self,
        campaign_id: str,
        run_id: str,
        file_num: int,
        consume: Callable[[BinaryIO], T],
        export_type: str,
    ) -> T:
        if export_type not in quirks.BULK_EXPORT_TYPES:
            raise ValueError(
                f"export_type must be one of {quirks.BULK_EXPORT_TYPES}; json stops at "
                f"{quirks.JSON_EXPORT_ROW_LIMIT} rows and is never used for files"
            )
        body = {
            "campaign_id": campaign_id,
            "run_id": run_id,
            "file_num": file_num,
            "export_type": export_type,
        }
        label = f"campaign {campaign_id} run {run_id} export file {file_num}"
        opener = self._utf8_opener(body) if export_type == "utf8" else self._url_opener(body)

        def attempt() -> T:
            response, endpoint = opener()
            stream = BodyStream(response, endpoint)
            reader = io.BufferedReader(stream, buffer_size=self.config.chunk_size)
            try:
                result = consume(cast(BinaryIO, reader))
                # The consumer may stop early; the file only counts if the whole body arrived.
                stream.drain(self.config.chunk_size)
            except BaseException:
                if stream.failure is not None:
                    log.warning("%s: %s; downloading again from the start", label, stream.failure)
                    raise stream.failure from None
                raise
            finally:
                response.close()
            if stream.failure is not None:
                raise stream.failure
            log.debug("%s: %d bytes", label, stream.received)
            return result

        try:
            return self.transport.with_retries(attempt, attempts=self.config.download_attempts)
        except NudgescribeError as exc:
            # The endpoint alone does not say which file failed.
            exc.message = f"{label}: {exc.message}"
            exc.args = (str(exc),)
            raise

    def _utf8_opener(self, body: dict[str, Any]) -> Callable[[], tuple[requests.Response, str]]:
        endpoint = f"POST {quirks.FETCH_PATH}"

        def open_body() -> tuple[requests.Response, str]:
            response = self.transport.request("POST", quirks.FETCH_PATH, body, stream=True)
            content_type = response.headers.get("Content-Type", "").lower()
            if "html" in content_type or "json" in content_type:
                response.close()
                raise ContractViolationError(
                    endpoint, response.status_code, f"expected CSV, got {content_type}"
                )
            return response, endpoint

        return open_body

    def _url_opener(self, body: dict[str, Any]) -> Callable[[], tuple[requests.Response, str]]:
        # One URL serves every attempt until it expires; only then is fetch asked again.
        issued: dict[str, Any] = {"url": None, "expires_at": None}

        def current_url(force: bool) -> str:
            expires_at = issued["expires_at"]
            stale = expires_at is not None and time.time() >= expires_at - _URL_EXPIRY_MARGIN
            if force or stale or issued["url"] is None:
                issued["url"], issued["expires_at"] = self._issue_url(body)
            return cast(str, issued["url"])

        def open_body() -> tuple[requests.Response, str]:
            force = False
            endpoint = f"POST {quirks.FETCH_PATH}"
            for _ in range(self.config.url_reissue_limit + 1):
                url = current_url(force)
                response, endpoint = self._storage_get(url)
                if response.status_code != quirks.EXPIRED_URL_STATUS:
                    return response, endpoint
                response.close()
                log.info("pre-signed URL refused (403, expired); asking fetch for a new one")
                force = True
            raise DownloadRefusedError(
                endpoint, 403, "storage kept refusing freshly issued pre-signed URLs"
            )

        return open_body

    def _issue_url(self, body: dict[str, Any]) -> tuple[str, float | None]:
        endpoint = f"POST {quirks.FETCH_PATH}"
        record = Record(
            # No retries of its own: download() retries the whole attempt, URL included.
            self.transport.call("POST", quirks.FETCH_PATH, body, retry=False),
            endpoint,
            "url export",
        )
        url = record.opt_str("url")
        if not url:
            raise ContractViolationError(endpoint, 200, "url export has no url")
        self.policy.check(url)
        expires_in = record.opt_float("expires_in")
        return url.strip(), (time.time() + expires_in if expires_in is not None else None)

    def _storage_get(self, url: str) -> tuple[requests.Response, str]:
        origin = (urlsplit(url).hostname or "").lower()
        for _ in range(_MAX_SAME_HOST_REDIRECTS + 1):
            parts = urlsplit(url)
            endpoint = f"GET {parts.scheme}://{parts.netloc}{parts.path}"
            try:
                response = self.storage.get(
                    url,
                    headers={"Accept-Encoding": "identity"},
                    timeout=(self.config.connect_timeout, self.config.read_timeout),
                    allow_redirects=False,
                    stream=True,
                )
            except requests.RequestException as exc:
                raise transport_error(endpoint, exc) from None
            if response.is_redirect:
                target = urljoin(url, response.headers.get("Location", ""))
                response.close()
                if (urlsplit(target).hostname or "").lower() != origin:
                    raise DownloadRefusedError(
                        endpoint, response.status_code, "redirect to another host"
                    )
                url = self.policy.check(target)
                continue
            if response.status_code == quirks.EXPIRED_URL_STATUS or response.ok:
                if response.ok and "html" in response.headers.get("Content-Type", "").lower():
                    response.close()
                    raise ContractViolationError(endpoint, 200, "HTML instead of the export file")
                return response, endpoint
            message = error_message(response)
            response.close()
            error = map_status(endpoint, response, message)
            if isinstance(error, NotFoundError | TransientError):
                raise error
            raise DownloadRefusedError(endpoint, response.status_code, message or "refused")
        raise DownloadRefusedError(f"GET {origin}", None, "too many redirects")
