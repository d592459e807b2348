"""Client configuration; ClientConfig.from_env() reads the NUDGESCRIBE_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .redaction import register_secret
from .urls import is_loopback

ENV_PREFIX = "NUDGESCRIBE_"


class ConfigError(ValueError):
    """Missing or inconsistent client settings (never echoes secret values)."""


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    api_code: str = field(repr=False)
    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    x_ip: str = "127.0.0.1"
    x_api_key: str | None = field(default=None, repr=False)
    # Extra hosts allowed for pre-signed downloads; the API host is always allowed.
    # "*.example.com" allows subdomains (their addresses must not be private).
    download_hosts: tuple[str, ...] = ()
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Retries of one call: bounded by attempts and by total time.
    max_attempts: int = 6
    retry_max_seconds: float = 120.0
    backoff_initial: float = 0.5
    backoff_max: float = 20.0
    retry_after_cap: float = 60.0
    # Export polling.
    poll_initial: float = 1.0
    poll_factor: float = 1.5
    poll_max: float = 30.0
    settle_seconds: float = 10.0
    export_deadline_seconds: float = 3600.0
    # Downloads.
    pool_size: int = 16
    download_attempts: int = 5
    url_reissue_limit: int = 5
    chunk_size: int = 1024 * 1024
    # Refresh a token this long before exp (at most a quarter of its lifetime).
    token_refresh_margin: float = 60.0
    verify_tls: bool = True

    def __post_init__(self) -> None:
        base = (self.base_url or "").strip().rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                "base_url must be an http(s) URL, e.g. https://client-api.nudgescribe.com"
            )
        object.__setattr__(self, "base_url", base)
        for name in ("api_code", "api_key", "api_secret", "token", "x_api_key"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = value.strip() or None
                object.__setattr__(self, name, value)
            register_secret(value)
        if not self.api_code:
            raise ConfigError("api_code is required (NUDGESCRIBE_API_CODE)")
        if not self.token and not (self.api_key and self.api_secret):
            raise ConfigError(
                "give either a token (NUDGESCRIBE_TOKEN) or api_key and api_secret "
                "(NUDGESCRIBE_API_KEY, NUDGESCRIBE_API_SECRET)"
            )
        if parts.scheme == "http" and not is_loopback(parts.hostname.lower()):
            # The token, api_code and api_secret would cross the network in clear text.
            raise ConfigError(
                f"base_url {base} is plain http; use https (plain http only on loopback)"
            )
        hosts = tuple(h.strip().lower() for h in self.download_hosts if h and h.strip())
        object.__setattr__(self, "download_hosts", hosts)
        if self.pool_size < 1 or self.max_attempts < 1 or self.download_attempts < 1:
            raise ConfigError("pool_size, max_attempts and download_attempts must be >= 1")

    @property
    def api_host(self) -> str:
        return (urlsplit(self.base_url).hostname or "").lower()

    @property
    def static_token(self) -> bool:
        return bool(self.token) and not (self.api_key and self.api_secret)

    def with_changes(self, **changes: Any) -> ClientConfig:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
        """Build from NUDGESCRIBE_* variables; keyword overrides win over the environment."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value.strip() if value and value.strip() else None

        hosts = get("DOWNLOAD_HOSTS")
        values: dict[str, Any] = {
            "base_url": get("BASE_URL"),
            "api_code": get("API_CODE"),
            "api_key": get("API_KEY"),
            "api_secret": get("API_SECRET"),
            "token": get("TOKEN"),
            "x_ip": get("X_IP") or "127.0.0.1",
            "x_api_key": get("X_API_KEY"),
            "download_hosts": tuple(hosts.split(",")) if hosts else (),
        }
        values.update(overrides)
        if not values.get("base_url"):
            raise ConfigError("NUDGESCRIBE_BASE_URL is not set")
        return cls(**values)
