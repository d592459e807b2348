"""HTTP to the Nudgescribe API: sessions, headers, auth retry, error mapping, retry policy."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
import requests.auth
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.retry import Retry

from . import quirks
from .auth import TokenManager
from .config import ClientConfig
from .errors import (
    AuthError,
    ContractViolationError,
    NotFoundError,
    NudgescribeError,
    QuotaExhaustedError,
    RateLimitedError,
    RequestError,
    TransientError,
    UnreachableHostError,
)
from .redaction import log, redact

T = TypeVar("T")
_ERROR_BODY_LIMIT = 64 * 1024


class KeepHeaders(requests.auth.AuthBase):
    """Set as session auth so a ~/.netrc entry can never replace our headers."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class StripVendorHeaders(requests.auth.AuthBase):
    """Storage requests: never carry Nudgescribe credentials, whatever a caller set."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        for name in quirks.NUDGESCRIBE_ONLY_HEADERS:
            request.headers.pop(name, None)
        return request


def make_session(pool_size: int, auth: requests.auth.AuthBase | None = None) -> requests.Session:
    session = requests.Session()
    session.auth = auth or KeepHeaders()
    # Retries are decided above urllib3 (tenacity), where the error type is known.
    adapter = HTTPAdapter(
        pool_connections=4, pool_maxsize=pool_size, max_retries=Retry(total=0, read=False)
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def error_message(response: requests.Response) -> str:
    """The server's {"message"} text, or a short excerpt of a non-JSON body."""
    try:
        if getattr(response, "_content_consumed", False) or response.raw is None:
            raw = (response.content or b"")[:_ERROR_BODY_LIMIT]
        else:
            raw = response.raw.read(_ERROR_BODY_LIMIT, decode_content=True) or b""
    except Exception:  # the body of an error is best effort
        raw = b""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(data, Mapping):
        for key, value in data.items():
            if str(key).strip() in ("message", "error", "detail") and value is not None:
                return str(value).strip()
    return text[:200]


def map_status(
    endpoint: str, response: requests.Response, message: str, *, sent: bool = True
) -> NudgescribeError:
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        if quirks.is_usage_limit(message):
            return QuotaExhaustedError(
                endpoint,
                status,
                f"{message or 'Usage limit exceeded.'} The account's usage quota is exhausted; "
                "not retried. Raise the quota or wait for it to reset, then run again.",
            )
        return RateLimitedError(
            endpoint, status, message or "rate limited", retry_after=retry_after
        )
    if status >= 500 or status == 408:
        return TransientError(
            endpoint, status, message or response.reason or "server error", retry_after=retry_after
        )
    if status == 404 or (status == 401 and quirks.is_not_found_message(message)):
        return NotFoundError(endpoint, status, message or "not found")
    if status in (401, 403) and quirks.is_auth_failure(status, message):
        return AuthError(endpoint, status, message or "authentication failed")
    if status == 403:
        return AuthError(endpoint, status, message or "forbidden")
    if 300 <= status < 400:
        return ContractViolationError(endpoint, status, "unexpected redirect from the API")
    return RequestError(endpoint, status, message or response.reason or "request refused")


def transport_error(endpoint: str, exc: requests.RequestException) -> TransientError:
    """A failure without a usable response. outcome_unknown unless nothing was sent."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    reason = getattr(inner, "reason", inner)
    # urllib3's NewConnectionError is a ConnectTimeoutError: the request never left.
    never_sent = isinstance(exc, requests.ConnectTimeout) or isinstance(reason, ConnectTimeoutError)
    kind = type(exc).__name__
    if reason is not None:
        kind += f" ({type(reason).__name__})"
    return TransientError(endpoint, None, kind, outcome_unknown=not never_sent)


def connection_failure(exc: requests.RequestException) -> str | None:
    """ "connection refused", "host not found", ... when no connection could be made at all."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    reason = getattr(inner, "reason", inner)
    if isinstance(reason, NameResolutionError):
        return "host not found"
    if not isinstance(reason, NewConnectionError):  # timeouts and cut connections
        return None
    cause = reason.__cause__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    return getattr(cause, "strerror", None) or "no connection"


# API base URLs that have answered this process (any status). Before the first answer, a
# refused connection or an unknown host means a wrong URL or a server that is not running,
# not a passing fault: retrying it for minutes would only delay the message that says so.
_answered: set[str] = set()
_answered_lock = threading.Lock()


def is_retryable(exc: BaseException) -> bool:
    # A truncated or HTML 200 is usually a proxy or a cut connection: worth another try.
    if isinstance(exc, UnreachableHostError):
        return False
    return isinstance(exc, TransientError | ContractViolationError)


class _RetryAfterOrJitter(tenacity.wait.wait_base):
    def __init__(self, config: ClientConfig) -> None:
        self._cap = config.retry_after_cap
        self._jitter = tenacity.wait_exponential_jitter(
            multiplier=config.backoff_initial, max=config.backoff_max, jitter=config.backoff_initial
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(min(retry_after, self._cap))
        return float(self._jitter(retry_state))


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    sleep = retry_state.next_action.sleep if retry_state.next_action else 0.0
    log.warning("attempt %d failed: %s; retrying in %.2fs", retry_state.attempt_number, exc, sleep)


class Transport:
    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.session = make_session(config.pool_size)
        self.session.verify = config.verify_tls
        self.tokens = TokenManager(config, self._auth_call)
        context = json.dumps(
            {"api_access": True, "api_code": config.api_code}, separators=(",", ":")
        )
        self._headers = {
            "x-auth-context": context,
            "x-ip": config.x_ip,
            "Content-Type": "application/json",
            "Accept": "application/json, text/csv;q=0.9, */*;q=0.1",
        }
        if config.x_api_key:
            self._headers["x-api-key"] = config.x_api_key
        self._answered = False

    def close(self) -> None:
        self.session.close()

    # -- retry policy ---------------------------------------------------------------------
    def retrying(self, attempts: int | None = None) -> tenacity.Retrying:
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts or self.config.max_attempts)
            | tenacity.stop_before_delay(self.config.retry_max_seconds),
            wait=_RetryAfterOrJitter(self.config),
            retry=tenacity.retry_if_exception(is_retryable),
            before_sleep=_log_retry,
            reraise=True,
        )

    def with_retries(self, attempt: Callable[[], T], attempts: int | None = None) -> T:
        return self.retrying(attempts)(attempt)

    # -- raw sending ----------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        body: Any,
        bearer: str | None,
        *,
        stream: bool = False,
    ) -> requests.Response:
        endpoint = f"{method} {path}"
        headers = dict(self._headers)
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        if stream:
            # Byte counts must match Content-Length; no transparent decompression.
            headers["Accept-Encoding"] = "identity"
        url = self.config.base_url + path
        try:
            response = self.session.request(
                method,
                url,
                data=None if body is None else json.dumps(body),
                headers=headers,
                timeout=(self.config.connect_timeout, self.config.read_timeout),
                allow_redirects=False,
                stream=stream,
            )
        except requests.RequestException as exc:
            failure = connection_failure(exc)
            if failure is not None and not self.has_answered():
                raise UnreachableHostError(
                    endpoint,
                    None,
                    f"cannot connect to {self.redacted_url(url)} ({failure}); nothing has "
                    "answered there yet, so it is not retried: check NUDGESCRIBE_BASE_URL and "
                    "that the server is up",
                ) from None
            raise transport_error(endpoint, exc) from None
        if not self._answered:
            with _answered_lock:
                _answered.add(self.config.base_url)
            self._answered = True
        return response

    def has_answered(self) -> bool:
        """Whether the API host has answered any request of this process."""
        if not self._answered:
            with _answered_lock:
                self._answered = self.config.base_url in _answered
        return self._answered

    def _auth_call(self, method: str, bearer: str | None) -> Any:
        path = quirks.AUTH_PATH
        endpoint = f"{method} {path}"
        body = (
            {"api_key": self.config.api_key, "api_secret": self.config.api_secret}
            if method == "POST"
            else None
        )

        def attempt() -> Any:
            response = self._send(method, path, body, bearer)
            if response.status_code in (401, 403):
                message = error_message(response)
                raise AuthError(endpoint, response.status_code, message or "authentication failed")
            return self.json_body(endpoint, self._checked(endpoint, response))

        return self.with_retries(attempt)

    def _checked(self, endpoint: str, response: requests.Response) -> requests.Response:
        if 200 <= response.status_code < 300:
            return response
        message = error_message(response)
        response.close()
        raise map_status(endpoint, response, message)

    def request(
        self, method: str, path: str, body: Any = None, *, stream: bool = False
    ) -> requests.Response:
        """One authenticated request (re-authenticating once on an auth failure), checked."""
        endpoint = f"{method} {path}"
        token = self.tokens.current()
        response = self._send(method, path, body, token, stream=stream)
        if response.status_code in (401, 403):
            message = error_message(response)
            if quirks.is_auth_failure(response.status_code, message):
                response.close()
                log.info("%s: auth failure (%s); re-authenticating once", endpoint, message)
                token = self.tokens.refresh_after_rejection(token)
                response = self._send(method, path, body, token, stream=stream)
                if response.status_code in (401, 403):
                    message = error_message(response)
                    if quirks.is_auth_failure(response.status_code, message):
                        raise AuthError(endpoint, response.status_code, message or "auth failed")
                    raise map_status(endpoint, response, message)
            else:
                raise map_status(endpoint, response, message)
        return self._checked(endpoint, response)

    @staticmethod
    def json_body(endpoint: str, response: requests.Response) -> Any:
        content_type = response.headers.get("Content-Type", "").lower()
        if "html" in content_type:
            raise ContractViolationError(endpoint, response.status_code, "HTML instead of JSON")
        try:
            return response.json()
        except ValueError:
            raise ContractViolationError(
                endpoint, response.status_code, "body is not valid JSON (truncated or not JSON)"
            ) from None
        except requests.RequestException as exc:
            raise transport_error(endpoint, exc) from None

    def call(self, method: str, path: str, body: Any = None, *, retry: bool = True) -> Any:
        """A JSON call; transient failures are retried (bounded) unless retry=False."""
        endpoint = f"{method} {path}"

        def attempt() -> Any:
            return self.json_body(endpoint, self.request(method, path, body))

        return self.with_retries(attempt) if retry else attempt()

    def redacted_url(self, url: str) -> str:
        return redact(url.split("?", 1)[0])
