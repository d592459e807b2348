"""The client's own typed configuration, built from nudge_pipeline's settings.

`ClientConfig.from_settings(settings)` (or `from_env()`) takes the NUDGESCRIBE_* values from
`nudge_pipeline.settings`; the timeouts and retry bounds below are the client's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from nudge_pipeline.settings import Settings, SettingsError, load_settings

from .redaction import register_secret
from .urls import is_loopback


class ConfigError(SettingsError):
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
    poll_factor: float = 1.3
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
    def from_settings(cls, settings: Settings, **overrides: Any) -> ClientConfig:
        """The client's view of `settings`; keyword overrides (ClientConfig fields) win."""
        values: dict[str, Any] = {
            "base_url": settings.base_url,
            "api_code": _plain(settings.api_code),
            "api_key": _plain(settings.api_key),
            "api_secret": _plain(settings.api_secret),
            "token": _plain(settings.token),
            "x_ip": settings.x_ip,
            "x_api_key": _plain(settings.x_api_key),
            "download_hosts": settings.download_hosts,
            "settle_seconds": settings.export_settle_seconds,
        }
        values.update(overrides)
        if not values.get("base_url"):
            raise ConfigError(settings.missing_api_message() or "NUDGESCRIBE_BASE_URL is not set")
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
        """From the process environment (or `environ`); keyword overrides win."""
        return cls.from_settings(load_settings(environ), **overrides)


def _plain(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
