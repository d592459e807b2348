"""Resources for the API, the lake and the warehouse, configured from the environment.

Secrets are passed as dg.EnvVar, so their values never enter run config or the UI.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg

from nudge_pipeline.landing.eligibility import parse_publish_stages

DEFAULT_LAKE_ROOT = "data/lake"
DEFAULT_WAREHOUSE_URL = "duckdb:///data/warehouse.duckdb"
DEFAULT_PARALLEL_DOWNLOADS = 4


class NudgescribeResource(dg.ConfigurableResource):
    """Connection settings for the Nudgescribe API (names follow the NUDGESCRIBE_* variables)."""

    base_url: str
    api_code: str = ""
    api_key: str = ""
    api_secret: str = ""
    token: str = ""
    x_ip: str = "127.0.0.1"
    x_api_key: str = ""
    download_hosts: str = ""
    # "utf8" (the file in the fetch answer) or "url" (a pre-signed URL on download_hosts).
    export_type: str = "utf8"
    profile_key: str = ""
    publish_stages: str = "Published"
    parallel_downloads: int = DEFAULT_PARALLEL_DOWNLOADS
    settle_seconds: float = 10.0
    exports_in_flight: int = 32
    claim_lease_seconds: float = 120.0

    def account_key(self) -> tuple[str, ...]:
        """Which account (and publish policy) a discovery describes."""
        return (self.base_url, self.api_code, self.publish_stages)

    def engine_settings(self) -> Any:
        from nudge_pipeline.landing.engine import EngineSettings

        return EngineSettings(
            parallel_downloads=max(1, self.parallel_downloads),
            exports_in_flight=max(1, self.exports_in_flight),
            export_type=self.export_type,
            settle_seconds=self.settle_seconds,
            claim_lease_seconds=self.claim_lease_seconds,
        )

    def allowed_stages(self) -> tuple[str, ...]:
        return parse_publish_stages(self.publish_stages)

    def client_config(self) -> Any:
        from nudge_pipeline.nudgescribe.config import ClientConfig

        hosts = tuple(h for h in self.download_hosts.split(",") if h.strip())
        return ClientConfig(
            base_url=self.base_url,
            api_code=self.api_code,
            api_key=self.api_key or None,
            api_secret=self.api_secret or None,
            token=self.token or None,
            x_ip=self.x_ip or "127.0.0.1",
            x_api_key=self.x_api_key or None,
            download_hosts=hosts,
            settle_seconds=self.settle_seconds,
        )

    @contextmanager
    def client(self) -> Iterator[Any]:
        from nudge_pipeline.nudgescribe.client import NudgescribeClient

        with NudgescribeClient(self.client_config()) as client:
            yield client


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake: a local folder or s3://bucket/prefix (NUDGE_LAKE_ROOT)."""

    root: str = DEFAULT_LAKE_ROOT

    def lake(self) -> Any:
        from nudge_pipeline.lake import Lake

        return Lake(self.root)


_migrated: set[str] = set()
_migrate_lock = threading.Lock()


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse at a SQLAlchemy URL (NUDGE_WAREHOUSE_URL); migrated before first use."""

    url: str = DEFAULT_WAREHOUSE_URL

    @contextmanager
    def open(self) -> Iterator[Any]:
        from nudge_pipeline.warehouse import Warehouse

        _ensure_parent_dir(self.url)
        with Warehouse(self.url) as warehouse:
            with _migrate_lock:
                if self.url not in _migrated:
                    warehouse.migrate()
                    _migrated.add(self.url)
            yield warehouse

    @contextmanager
    def open_if(self, needed: bool) -> Iterator[Any]:
        """The open warehouse when `needed`, else None (a step that loads nothing)."""
        if not needed:
            yield None
            return
        with self.open() as warehouse:
            yield warehouse


def _ensure_parent_dir(url: str) -> None:
    for prefix in ("duckdb:///", "sqlite:///"):
        if url.startswith(prefix):
            database = url[len(prefix) :].split("?", 1)[0]
            if database and database != ":memory:":
                parent = os.path.dirname(database)
                if parent:
                    os.makedirs(parent, exist_ok=True)


def _env(environ: Mapping[str, str], name: str, default: Any) -> Any:
    """dg.EnvVar when the variable is set, else the default (an unset EnvVar fails runs)."""
    value = environ.get(name)
    return dg.EnvVar(name) if value is not None and value.strip() else default


def resources_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    base_url: str | None = None,
    lake_root: str | None = None,
    warehouse_url: str | None = None,
    publish_stages: str | None = None,
) -> dict[str, Any]:
    """The resources from NUDGESCRIBE_* / NUDGE_* variables; a keyword given here wins."""
    env = os.environ if environ is None else environ
    return {
        "nudgescribe": NudgescribeResource(
            base_url=base_url
            or _env(env, "NUDGESCRIBE_BASE_URL", "https://client-api.nudgescribe.com"),
            api_code=_env(env, "NUDGESCRIBE_API_CODE", ""),
            api_key=_env(env, "NUDGESCRIBE_API_KEY", ""),
            api_secret=_env(env, "NUDGESCRIBE_API_SECRET", ""),
            token=_env(env, "NUDGESCRIBE_TOKEN", ""),
            x_ip=_env(env, "NUDGESCRIBE_X_IP", "127.0.0.1"),
            x_api_key=_env(env, "NUDGESCRIBE_X_API_KEY", ""),
            download_hosts=_env(env, "NUDGESCRIBE_DOWNLOAD_HOSTS", ""),
            export_type=_env(env, "NUDGESCRIBE_EXPORT_TYPE", "utf8"),
            profile_key=_env(env, "NUDGESCRIBE_PROFILE_KEY", ""),
            publish_stages=publish_stages or _env(env, "NUDGE_PUBLISH_STAGES", "Published"),
            parallel_downloads=int(
                env.get("NUDGE_PARALLEL_DOWNLOADS", "") or DEFAULT_PARALLEL_DOWNLOADS
            ),
            settle_seconds=float(env.get("NUDGE_EXPORT_SETTLE_SECONDS", "") or 10.0),
            exports_in_flight=int(env.get("NUDGE_EXPORTS_IN_FLIGHT", "") or 32),
            claim_lease_seconds=float(env.get("NUDGE_CLAIM_LEASE_SECONDS", "") or 120.0),
        ),
        "lake": LakeResource(root=lake_root or _env(env, "NUDGE_LAKE_ROOT", DEFAULT_LAKE_ROOT)),
        "warehouse": WarehouseResource(
            url=warehouse_url or _env(env, "NUDGE_WAREHOUSE_URL", DEFAULT_WAREHOUSE_URL)
        ),
    }
