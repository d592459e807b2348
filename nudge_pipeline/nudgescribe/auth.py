"""Bearer tokens: login, proactive refresh, re-authenticate inside the grace window."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from . import quirks
from .config import ClientConfig
from .errors import AuthError, ContractViolationError, RequestError
from .models import Record
from .redaction import log, register_secret

# (method, bearer token or None) -> parsed JSON body of the auth endpoint
AuthCall = Callable[[str, str | None], Any]


@dataclass(frozen=True)
class Token:
    value: str
    obtained_at: float
    expires_at: float | None

    def refresh_due(self, now: float, margin: float) -> bool:
        if self.expires_at is None:
            return False
        lifetime = max(self.expires_at - self.obtained_at, 0.0)
        return now >= self.expires_at - min(margin, lifetime * 0.25)

    def within_grace(self, now: float) -> bool:
        # A second of slack: the server must still see us inside the window.
        return self.expires_at is not None and now < (
            self.expires_at + quirks.REAUTH_GRACE_SECONDS - 1.0
        )


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _claims(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def supplied_token_expiry(token: str) -> float | None:
    """A token handed in by the user may be old: only its absolute exp says anything."""
    return _number(_claims(token).get("exp"))


def token_expiry(token: str, expires_in: float | None, now: float) -> float | None:
    """When the token expires, on the local clock.

    The JWT is decoded without verifying its signature: it only schedules refreshes.
    Lifetime (exp - iat) is applied to the local clock, so a skewed server clock cannot
    make every fresh token look expired.
    """
    claims = _claims(token)
    exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
    if exp is not None and iat is not None and exp > iat:
        # Claims are whole seconds: the token may have been minted up to 1 s before `now`.
        lifetime = exp - iat
        return now + max(lifetime - 1.0, lifetime / 2)
    if expires_in is not None:
        return now + expires_in
    return exp


# The last token obtained in this process, per account. Every Dagster step opens a client of
# its own; each starts from this token (refreshed as usual when due) instead of logging in.
_OBTAINED: dict[str, Token] = {}
_OBTAINED_LOCK = threading.Lock()


def forget_tokens() -> None:
    """The next client of this process logs in afresh."""
    with _OBTAINED_LOCK:
        _OBTAINED.clear()


def _account_of(config: ClientConfig) -> str:
    parts = (config.base_url, config.api_code, config.api_key or "", config.api_secret or "")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class TokenManager:
    """Thread-safe holder of the current token; one refresh at a time."""

    def __init__(self, config: ClientConfig, auth_call: AuthCall) -> None:
        self._config = config
        self._auth_call = auth_call
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._account = _account_of(config)
        if config.token:
            now = time.time()
            self._token = Token(config.token, now, supplied_token_expiry(config.token))
        elif self.can_login:
            with _OBTAINED_LOCK:
                self._token = _OBTAINED.get(self._account)

    @property
    def can_login(self) -> bool:
        return bool(self._config.api_key and self._config.api_secret)

    def current(self) -> str:
        with self._lock:
            now = time.time()
            if self._token is None:
                self._token = self._login()
            elif self.can_login and self._token.refresh_due(now, self._config.token_refresh_margin):
                self._token = self._renew(self._token, now)
            return self._token.value

    def refresh_after_rejection(self, rejected: str) -> str:
        """The server refused `rejected` as an auth failure: log in again (once per request)."""
        with self._lock:
            if self._token is not None and self._token.value != rejected:
                return self._token.value  # another thread already replaced it
            with _OBTAINED_LOCK:
                newer = _OBTAINED.get(self._account)
            if newer is not None and newer.value != rejected:
                self._token = newer  # another client of this process already replaced it
                return newer.value
            if not self.can_login:
                raise AuthError(
                    f"{quirks.AUTH_PATH}",
                    None,
                    "the configured token was rejected and no api_key/api_secret is set to "
                    "log in again; supply a fresh NUDGESCRIBE_TOKEN",
                )
            log.info("token rejected by the server; logging in again")
            self._token = self._login()
            return self._token.value

    def _renew(self, old: Token, now: float) -> Token:
        if old.within_grace(now):
            try:
                token = self._obtain("GET", old.value)
                log.debug("token re-authenticated before expiry")
                return token
            except (AuthError, RequestError) as exc:
                log.info("re-authenticate refused (%s); logging in again", exc.status)
        return self._login()

    def _login(self) -> Token:
        if not self.can_login:
            raise AuthError(f"POST {quirks.AUTH_PATH}", None, "no api_key/api_secret configured")
        token = self._obtain("POST", None)
        log.debug("logged in")
        return token

    def _obtain(self, method: str, bearer: str | None) -> Token:
        endpoint = f"{method} {quirks.AUTH_PATH}"
        body = Record(self._auth_call(method, bearer), endpoint, "auth response")
        value = body.opt_str("token") or body.opt_str("access_token")
        if not value:
            raise ContractViolationError(endpoint, 200, "auth response has no token")
        register_secret(value)
        expires_in = body.data.get("expires_in")
        seconds = (
            float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            else None
        )
        now = time.time()
        token = Token(value, now, token_expiry(value, seconds, now))
        with _OBTAINED_LOCK:
            _OBTAINED[self._account] = token
        return token
