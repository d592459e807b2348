"""Resources for the API, the lake and the warehouse, configured from nudge_pipeline.settings.

Secrets are passed as dg.EnvVar, so their values never enter run config or the UI.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import SecretStr

from nudge_pipeline.settings import Settings, default_of, load_settings, local_database_path

if TYPE_CHECKING:  # imported where used: the engine is heavy for every definitions load
    from nudge_pipeline.landing.engine import EngineSettings


class NudgescribeResource(dg.ConfigurableResource):
    """Connection settings for the Nudgescribe API (names follow the NUDGESCRIBE_* variables).

    Blank means unset; `settings()` validates the values as the environment's would be.
    """

    base_url: str = ""
    api_code: str = ""
    api_key: str = ""
    api_secret: str = ""
    token: str = ""
    x_ip: str = default_of("x_ip")
    x_api_key: str = ""
    download_hosts: str = ""
    # "utf8" (the file in the fetch answer) or "url" (a pre-signed URL on download_hosts).
    export_type: str = default_of("export_type")
    profile_key: str = ""
    publish_stages: str = ",".join(default_of("publish_stages"))
    parallel_downloads: int = default_of("parallel_downloads")
    settle_seconds: float = default_of("export_settle_seconds")
    exports_in_flight: int = default_of("exports_in_flight")
    claim_lease_seconds: float = default_of("claim_lease_seconds")

    def account_key(self) -> tuple[str, ...]:
        """Which account (and publish policy) a discovery describes."""
        from nudge_pipeline.landing.discovery import account_key

        return account_key(self.base_url, self.api_code, self.publish_stages)

    def engine_settings(self) -> EngineSettings:
        from nudge_pipeline.landing.engine import EngineSettings

        return EngineSettings.from_settings(self.settings())

    def settings(self) -> Settings:
        return load_settings(
            {},
            base_url=self.base_url,
            api_code=self.api_code,
            api_key=self.api_key,
            api_secret=self.api_secret,
            token=self.token,
            x_ip=self.x_ip,
            x_api_key=self.x_api_key,
            download_hosts=self.download_hosts,
            export_type=self.export_type,
            profile_key=self.profile_key,
            publish_stages=self.publish_stages,
            parallel_downloads=self.parallel_downloads,
            export_settle_seconds=self.settle_seconds,
            exports_in_flight=self.exports_in_flight,
            claim_lease_seconds=self.claim_lease_seconds,
        )

    def allowed_stages(self) -> tuple[str, ...]:
        return self.settings().publish_stages

    def client_config(self) -> Any:
        from nudge_pipeline.nudgescribe.config import ClientConfig

        return ClientConfig.from_settings(self.settings())

    @contextmanager
    def client(self) -> Iterator[Any]:
        from nudge_pipeline.nudgescribe.client import NudgescribeClient

        with NudgescribeClient(self.client_config()) as client:
            yield client


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake: a local folder or s3://bucket/prefix (NUDGE_LAKE_ROOT)."""

    root: str = default_of("lake_root")

    def lake(self) -> Any:
        from nudge_pipeline.lake import Lake

        return Lake(self.root)


_migrated: set[str] = set()
_migrate_lock = threading.Lock()


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse at a SQLAlchemy URL (NUDGE_WAREHOUSE_URL); migrated before first use."""

    url: str = default_of("warehouse_url")

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
    database = local_database_path(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)


def _secret(environ: Mapping[str, str], name: str, value: SecretStr | None) -> Any:
    """dg.EnvVar when the variable is set (Dagster reads it at run time), else the default.

    An EnvVar of an unset variable would fail every run, so unset stays a plain value.
    """
    if name in environ and environ[name].strip():
        return dg.EnvVar(name)
    return value.get_secret_value() if value is not None else ""


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
    settings = load_settings(env)
    return {
        "nudgescribe": NudgescribeResource(
            base_url=base_url or settings.base_url or "",
            api_code=_secret(env, "NUDGESCRIBE_API_CODE", settings.api_code),
            api_key=_secret(env, "NUDGESCRIBE_API_KEY", settings.api_key),
            api_secret=_secret(env, "NUDGESCRIBE_API_SECRET", settings.api_secret),
            token=_secret(env, "NUDGESCRIBE_TOKEN", settings.token),
            x_ip=settings.x_ip,
            x_api_key=_secret(env, "NUDGESCRIBE_X_API_KEY", settings.x_api_key),
            download_hosts=",".join(settings.download_hosts),
            export_type=settings.export_type,
            profile_key=_secret(env, "NUDGESCRIBE_PROFILE_KEY", settings.profile_key),
            publish_stages=publish_stages or ",".join(settings.publish_stages),
            parallel_downloads=settings.parallel_downloads,
            settle_seconds=settings.export_settle_seconds,
            exports_in_flight=settings.exports_in_flight,
            claim_lease_seconds=settings.claim_lease_seconds,
        ),
        "lake": LakeResource(root=lake_root or settings.lake_root),
        "warehouse": WarehouseResource(
            url=warehouse_url or _secret(env, "NUDGE_WAREHOUSE_URL", settings.warehouse_url)
        ),
    }
