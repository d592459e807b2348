"""`nudge-pipeline check`: settings, API access, the lake and the warehouse, in seconds.

Nothing here publishes or spends the account's quota: the API is asked to log in and to
list campaigns only. The lake gets a small probe file, written and deleted; the warehouse
is migrated, as the first sync would do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nudge_pipeline.settings import Settings, SettingsError, load_settings, local_database_path

# The API check answers in seconds, whatever the server does: few, short retries.
CHECK_CLIENT: dict[str, Any] = {
    "connect_timeout": 5.0,
    "read_timeout": 20.0,
    "max_attempts": 2,
    "retry_max_seconds": 10.0,
    "backoff_initial": 0.5,
    "backoff_max": 2.0,
    "retry_after_cap": 2.0,
}
# A sync holding DuckDB's writer lock makes the warehouse check fail, not wait.
WAREHOUSE_LOCK_SECONDS = 5.0
_PROBE = b"nudge-pipeline check\n"

_CREDENTIALS_HINT = (
    "check NUDGESCRIBE_API_CODE and NUDGESCRIBE_API_KEY + NUDGESCRIBE_API_SECRET "
    "(or NUDGESCRIBE_TOKEN)"
)


@dataclass(frozen=True)
class CheckResult:
    ok: bool | None  # None: not tried, because an earlier check failed
    what: str
    detail: str
    hint: str = ""

    def line(self) -> str:
        mark = {True: "✓", False: "✗", None: "-"}[self.ok]
        text = f"{mark} {self.what}: {self.detail}"
        return f"{text} (hint: {self.hint})" if self.hint and self.ok is not True else text


def run_checks() -> Iterator[CheckResult]:
    """Every check in order; the caller prints each line as it comes."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        yield CheckResult(False, "settings", str(exc), "fix the variable named")
        return
    yield CheckResult(True, "settings", "every variable set is valid")
    yield from check_api(settings)
    yield check_lake(settings.lake_root)
    yield check_warehouse(settings.warehouse_url.get_secret_value())


def check_api(settings: Settings) -> Iterator[CheckResult]:
    from nudge_pipeline.nudgescribe import ClientConfig, ConfigError, NudgescribeClient
    from nudge_pipeline.nudgescribe.errors import AuthError, NudgescribeError

    not_tried = CheckResult(None, "campaigns", "not listed", "needs the API login above")
    missing = settings.missing_api_message()
    if missing:
        yield CheckResult(False, "API login", missing, "export the variables named")
        yield not_tried
        return
    try:
        config = ClientConfig.from_settings(settings, **CHECK_CLIENT)
    except ConfigError as exc:
        yield CheckResult(False, "API login", str(exc), "fix the variable named")
        yield not_tried
        return
    with NudgescribeClient(config) as client:
        try:
            logged_in = client.authenticate()
        except NudgescribeError as exc:
            yield CheckResult(False, "API login", str(exc), _api_hint(exc))
            yield not_tried
            return
        if logged_in:
            yield CheckResult(True, "API login", f"logged in at {config.base_url}")
        try:
            campaigns = client.list_campaigns()
        except NudgescribeError as exc:
            if not logged_in and isinstance(exc, AuthError):  # the token's first use
                yield CheckResult(False, "API login", str(exc), _api_hint(exc))
                yield not_tried
            else:
                yield CheckResult(False, "campaigns", str(exc), _api_hint(exc))
            return
    if not logged_in:
        yield CheckResult(True, "API login", f"token accepted by {config.base_url}")
    workspaces = {c.workspace_id for c in campaigns}
    yield CheckResult(
        True, "campaigns", f"{len(campaigns)} listed in {len(workspaces)} workspace(s)"
    )


def _api_hint(exc: Exception) -> str:
    from nudge_pipeline.nudgescribe import errors

    if isinstance(exc, errors.AuthError):
        return _CREDENTIALS_HINT
    if isinstance(exc, errors.UnreachableHostError):  # its message says what to check
        return ""
    if isinstance(exc, errors.TransientError) and exc.status is None:
        return "check NUDGESCRIBE_BASE_URL and that this machine can reach it"
    if isinstance(exc, errors.ContractViolationError | errors.NotFoundError):
        return "NUDGESCRIBE_BASE_URL must be the API's base URL, without /v1"
    if isinstance(exc, errors.TransientError):
        return "the API is failing or limiting requests; try again later"
    return ""


def check_lake(root: str) -> CheckResult:
    """Write, read back and delete a probe file at the lake root."""
    from nudge_pipeline.lake import Lake

    shown = root
    try:
        lake = Lake(root)
        shown = lake.root
        # A temporary file's name: readers skip it, and the orphan sweep removes a leftover.
        probe = f".nudge-check.tmp-{uuid.uuid4().hex}"
        lake.write_bytes(probe, _PROBE)
        read_back = lake.read_bytes(probe)
        lake.delete(probe)
        if read_back != _PROBE:
            raise OSError("the probe file read back differently")
    except Exception as exc:
        return CheckResult(
            False,
            "lake",
            f"cannot write under {shown}: {_one_line(exc)}",
            "set NUDGE_LAKE_ROOT to a folder this user can write, or s3://bucket/prefix",
        )
    return CheckResult(True, "lake", f"{shown} is writable")


def check_warehouse(url: str) -> CheckResult:
    """Connect and apply pending migrations, as the first sync would."""
    from sqlalchemy.engine import make_url

    from nudge_pipeline.sync import absolute_warehouse_url
    from nudge_pipeline.warehouse import Warehouse

    url = absolute_warehouse_url(url)
    try:
        parsed = make_url(url)
    except Exception:  # its text would echo the URL, password included
        return CheckResult(
            False,
            "warehouse",
            "NUDGE_WAREHOUSE_URL is not a SQLAlchemy URL",
            "e.g. duckdb:///data/warehouse.duckdb or postgresql://user@host:5432/db",
        )
    shown = parsed.render_as_string(hide_password=True)
    password = parsed.password
    try:
        database = local_database_path(url)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        with Warehouse(url, lock_timeout=WAREHOUSE_LOCK_SECONDS) as warehouse:
            applied = warehouse.migrate()
            versions = warehouse.applied_migrations()
    except Exception as exc:
        return CheckResult(
            False,
            "warehouse",
            f"{shown}: {_one_line(exc, hide=str(password) if password else None)}",
            "NUDGE_WAREHOUSE_URL must reach a database where this user may create tables",
        )
    state = f"{len(applied)} migration(s) applied now" if applied else "schema up to date"
    return CheckResult(
        True, "warehouse", f"{shown}: writable, {state} (version {max(versions, default=0)})"
    )


def _one_line(exc: BaseException, hide: str | None = None) -> str:
    text = str(exc).replace(hide, "***") if hide else str(exc)
    text = " ".join(text.split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
