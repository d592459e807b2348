"""Every setting of nudge_pipeline, read from the environment in one place.

`load_settings()` returns a validated, frozen `Settings`; each field's environment variable
is its alias, and its default and meaning live here only (README's variable table is
generated from this model: `python -m nudge_pipeline.settings`). Blank variables count as
unset. Secrets are `SecretStr`, so they never show in a repr or a log line.

This module imports neither Dagster nor HTTP code: the lake, the client and the Dagster
definitions all read it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from annotated_types import Ge, Gt
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

FsyncPolicy = Literal["batched", "each", "off"]
ExportType = Literal["utf8", "url"]
ArrowMemoryPool = Literal["system", "mimalloc", "jemalloc"]
# Comma-separated in the environment (not JSON, as pydantic-settings would read a tuple).
CommaList = Annotated[tuple[str, ...], NoDecode]

_COMMA_LISTS = frozenset({"download_hosts", "publish_stages"})
_LOWER_CASE = frozenset({"export_type", "lake_fsync", "arrow_memory_pool"})


# True while load_settings validates a given mapping: the process environment is not read.
_reading_a_mapping: ContextVar[bool] = ContextVar("reading_a_mapping", default=False)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable, never a secret."""


class Settings(BaseSettings):
    """nudge_pipeline's settings; field aliases are the environment variable names."""

    model_config = SettingsConfigDict(
        case_sensitive=True,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        validate_default=False,
    )

    base_url: str | None = Field(
        None,
        alias="NUDGESCRIBE_BASE_URL",
        description="API base URL, without `/v1`",
        json_schema_extra={"shown_default": "(demo: the simulator's)"},
    )
    api_code: SecretStr | None = Field(
        None, alias="NUDGESCRIBE_API_CODE", description="`api_code` sent in `x-auth-context`"
    )
    api_key: SecretStr | None = Field(
        None,
        alias="NUDGESCRIBE_API_KEY",
        description="API key for `POST /v1/auth`, with `NUDGESCRIBE_API_SECRET`",
    )
    api_secret: SecretStr | None = Field(
        None,
        alias="NUDGESCRIBE_API_SECRET",
        description="API secret for `POST /v1/auth`, with `NUDGESCRIBE_API_KEY`",
    )
    token: SecretStr | None = Field(
        None, alias="NUDGESCRIBE_TOKEN", description="a ready JWT instead of key and secret"
    )
    x_ip: str = Field("127.0.0.1", alias="NUDGESCRIBE_X_IP", description="the `x-ip` header")
    download_hosts: CommaList = Field(
        (),
        alias="NUDGESCRIBE_DOWNLOAD_HOSTS",
        description="hosts allowed for pre-signed downloads (comma-separated; "
        "`*.example.com` allows subdomains)",
        json_schema_extra={"shown_default": "the API host"},
    )
    profile_key: SecretStr | None = Field(
        None,
        alias="NUDGESCRIBE_PROFILE_KEY",
        description="Fernet key for profile values; without it ciphertext lands as received",
    )
    publish_stages: CommaList = Field(
        ("Published",),
        alias="NUDGE_PUBLISH_STAGES",
        description="stages whose runs may be exported (comma-separated)",
    )
    lake_root: str = Field(
        "data/lake", alias="NUDGE_LAKE_ROOT", description="local folder or `s3://bucket/prefix`"
    )
    # May hold a password.
    warehouse_url: SecretStr = Field(
        SecretStr("duckdb:///data/warehouse.duckdb"),
        alias="NUDGE_WAREHOUSE_URL",
        description="any SQLAlchemy URL (DuckDB, PostgreSQL tested); DuckDB settings go in its "
        "query, default `?memory_limit=64MB&threads=2&preserve_insertion_order=false`",
    )
    dagster_home: str = Field(
        "dagster_home", alias="DAGSTER_HOME", description="the Dagster instance"
    )
    export_type: ExportType = Field(
        "utf8",
        alias="NUDGESCRIBE_EXPORT_TYPE",
        description="`utf8` streams each CSV from `fetch`; `url` downloads it from a pre-signed "
        "URL on an allowed host",
    )
    x_api_key: SecretStr | None = Field(
        None,
        alias="NUDGESCRIBE_X_API_KEY",
        description="optional `x-api-key` header, for accounts that require it",
    )
    parallel_downloads: int = Field(
        4,
        ge=1,
        alias="NUDGE_PARALLEL_DOWNLOADS",
        description="export files downloaded and converted at once, shared by every "
        "campaign run in flight; also the run histories discovery reads at once",
    )
    export_settle_seconds: float = Field(
        10.0,
        ge=0,
        alias="NUDGE_EXPORT_SETTLE_SECONDS",
        description="when `pages` omits `status`: how long `num_files` must stay unchanged",
    )
    lake_fsync: FsyncPolicy = Field(
        "batched",
        alias="NUDGE_LAKE_FSYNC",
        description="`batched` flushes message files in the background and before anything "
        "records them; `each` flushes every file before its rename; `off` never "
        "(see `docs/lake.md`)",
    )
    arrow_memory_pool: ArrowMemoryPool = Field(
        "system",
        alias="ARROW_DEFAULT_MEMORY_POOL",
        description="Arrow's allocator in processes that import `nudge_pipeline`; pyarrow's own "
        "default, `mimalloc`, held 60 MB more at the peak of a 1M-row sync",
    )
    # Read by the lake for `s3://` roots; credentials come from the AWS chain, never from here.
    s3_region: str | None = Field(
        None,
        validation_alias=AliasChoices("AWS_DEFAULT_REGION", "AWS_REGION"),
        description="region of an `s3://` lake; unset: the AWS SDK's own lookup",
    )
    s3_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
        description="endpoint of an S3-compatible store (MinIO, Ceph) for an `s3://` lake",
    )
    discovery_interval_seconds: int = Field(
        300,
        ge=1,
        alias="NUDGE_DISCOVERY_INTERVAL_SECONDS",
        description="how often the discovery sensor lists campaigns and runs",
    )
    automation_interval_seconds: int = Field(
        30,
        ge=1,
        alias="NUDGE_AUTOMATION_INTERVAL_SECONDS",
        description="how often the automation sensor evaluates its conditions",
    )
    exports_in_flight: int = Field(
        32,
        ge=1,
        alias="NUDGE_EXPORTS_IN_FLIGHT",
        description="exports published and awaited at once",
    )
    claim_lease_seconds: float = Field(
        120.0,
        gt=0,
        alias="NUDGE_CLAIM_LEASE_SECONDS",
        description="how long a claim on a campaign run lives without renewal; a dead "
        "holder's claim is taken over after this (at once for a gone process on the same host)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The process environment only: no .env file can change a deployment behind its back.
        # load_settings(environ) passes a mapping's variables as init values, alone.
        if _reading_a_mapping.get():
            return (init_settings,)
        return (init_settings, env_settings)

    @field_validator("*", mode="before")
    @classmethod
    def _clean(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            raise PydanticUseDefault()
        if name in _COMMA_LISTS:
            items = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
            if not items:
                raise PydanticUseDefault()
            return tuple(i.lower() for i in items) if name == "download_hosts" else items
        return text.lower() if name in _LOWER_CASE else text

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        base = value.rstrip("/").removesuffix("/v1")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL")
        return base

    def missing_api_variables(self) -> list[str]:
        """What must still be set before the API can be called (empty when complete)."""
        missing = []
        if not self.base_url:
            missing.append("NUDGESCRIBE_BASE_URL")
        if self.api_code is None:
            missing.append("NUDGESCRIBE_API_CODE")
        if self.token is None and (self.api_key is None or self.api_secret is None):
            missing.append("NUDGESCRIBE_API_KEY + NUDGESCRIBE_API_SECRET (or NUDGESCRIBE_TOKEN)")
        return missing

    def missing_api_message(self) -> str | None:
        """A sentence naming every variable the API still needs, or None."""
        missing = self.missing_api_variables()
        if not missing:
            return None
        listed = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        return (
            f"the Nudgescribe API is not configured: set {listed}. "
            "`nudge-pipeline demo` needs none of them: it starts its own simulator."
        )


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """The settings from the process environment, or from `environ` instead.

    Keyword overrides (field names) win. A malformed value raises SettingsError naming the
    variable and what it must be.
    """
    unknown = set(overrides) - set(_ENV_NAMES)
    if unknown:
        raise TypeError(f"not a setting: {', '.join(sorted(unknown))}")
    try:
        if environ is None and not overrides:
            # pydantic-settings' own environment source; mypy cannot see the defaults here.
            return Settings()  # type: ignore[call-arg]
        source = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, names in _ENV_NAMES.items():
            if name in overrides:
                values[name] = overrides[name]
            elif found := next((n for n in names if source.get(n, "").strip()), None):
                values[found] = source[found]
        reading = _reading_a_mapping.set(True)
        try:
            return Settings(**values)
        finally:
            _reading_a_mapping.reset(reading)
    except ValidationError as exc:
        raise SettingsError("; ".join(_explain(error) for error in exc.errors())) from None


def read_settings(*names: str) -> Settings:
    """Settings with only the named fields read from the process environment.

    For code that needs a few values (the lake's fsync policy, its S3 endpoint): a bad
    variable it does not use must not stop it.
    """
    environ = {env: os.environ[env] for n in names for env in _ENV_NAMES[n] if env in os.environ}
    return load_settings(environ)


def default_of(name: str) -> Any:
    """A field's default as plain Python (a secret's default unwrapped)."""
    value = Settings.model_fields[name].default
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _env_names(name: str, info: FieldInfo) -> tuple[str, ...]:
    if isinstance(info.validation_alias, AliasChoices):
        return tuple(str(choice) for choice in info.validation_alias.choices)
    if isinstance(info.alias, str):
        return (info.alias,)
    raise TypeError(f"settings field {name} has no environment variable")


# Field name -> its environment variables, the first found wins.
_ENV_NAMES: dict[str, tuple[str, ...]] = {
    name: _env_names(name, info) for name, info in Settings.model_fields.items()
}
_FIELDS_BY_ENV: dict[str, str] = {env: n for n, names in _ENV_NAMES.items() for env in names}


def env_names(name: str) -> tuple[str, ...]:
    """The environment variables of a field, in precedence order."""
    return _ENV_NAMES[name]


def _expectation(name: str) -> str:
    info = Settings.model_fields[name]
    annotation = info.annotation
    if name == "base_url":
        return "an http(s) URL such as https://client-api.nudgescribe.com"
    choices = get_args(annotation)
    if choices and all(isinstance(c, str) for c in choices):
        return "one of " + ", ".join(choices)
    bounds = [
        f"≥ {m.ge:g}" if isinstance(m, Ge) else f"> {m.gt:g}"
        for m in info.metadata
        if isinstance(m, Ge | Gt)
    ]
    kind = "a whole number" if annotation is int else "a number"
    return " ".join([kind, *bounds])


def _explain(error: Mapping[str, Any]) -> str:
    loc = error.get("loc") or ("?",)
    key = str(loc[0])
    name = _FIELDS_BY_ENV.get(key, key)
    variable = key if key in _FIELDS_BY_ENV else _ENV_NAMES.get(name, (key,))[0]
    if name not in Settings.model_fields:
        return f"{variable}: {error.get('msg', 'invalid')}"
    annotation = str(Settings.model_fields[name].annotation)
    if "SecretStr" in annotation:  # never echo a secret
        return f"{variable} is not valid"
    return f"{variable} must be {_expectation(name)}, got {error.get('input')!r}"


def local_database_path(url: str) -> Path | None:
    """The file behind a duckdb:/// or sqlite:/// URL (None for servers and :memory:)."""
    for prefix in ("duckdb:///", "sqlite:///"):
        if url.startswith(prefix):
            database = url[len(prefix) :].split("?", 1)[0]
            return Path(database) if database and database != ":memory:" else None
    return None


# ------------------------------------------------------------------------ README table


def _shown_default(name: str) -> str:
    info = Settings.model_fields[name]
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    value = default_of(name)
    if value is None or value == ():
        return ""
    if isinstance(value, tuple):
        value = ",".join(value)
    if isinstance(value, float):
        value = f"{value:g}"
    return f"`{value}`"


def markdown_table() -> str:
    """README's variable table: one row per setting, in declaration order."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        variables = ", ".join(f"`{env}`" for env in _ENV_NAMES[name])
        cells = (variables, _shown_default(name), info.description or "")
        lines.append("|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
