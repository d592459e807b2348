"""The settings model: README's table, parsing, errors, secrets, and the code that reads it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from nudge_pipeline.defs.resources import resources_from_env
from nudge_pipeline.lake import Lake
from nudge_pipeline.nudgescribe import ClientConfig, ConfigError
from nudge_pipeline.settings import (
    Settings,
    SettingsError,
    default_of,
    env_names,
    load_settings,
    markdown_table,
)
from nudge_pipeline.sync import INSTANCE_YAML, prepare_environment

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("nudge-pipeline"))
ALL_VARIABLES = {env for name in Settings.model_fields for env in env_names(name)}


def readme_rows() -> dict[str, tuple[str, str]]:
    """README's variable table: first variable of a row -> (variables cell, default cell)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("| variable | default | meaning |")
    rows: dict[str, tuple[str, str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        variables, default, _meaning = (cell.strip() for cell in line.strip("|").split("|", 2))
        names = re.findall(r"`([A-Z0-9_]+)`", variables)
        rows[names[0]] = (", ".join(names), default)
    return rows


def test_readme_table_lists_every_setting_with_its_default_and_nothing_else() -> None:
    rows = readme_rows()
    expected = {env_names(name)[0]: name for name in Settings.model_fields}
    assert set(rows) == set(expected), "regenerate: python -m nudge_pipeline.settings"
    for first, name in expected.items():
        variables, default = rows[first]
        assert variables == ", ".join(env_names(name))
        value = default_of(name)
        if isinstance(value, tuple):
            value = ",".join(value)
        if isinstance(value, float):
            value = f"{value:g}"
        if value is None or value == "":
            # No value: the cell is blank or says in words what applies instead.
            assert not default.startswith("`"), first
        else:
            assert default == f"`{value}`", first


def test_readme_table_is_the_generated_one() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in text, "regenerate: python -m nudge_pipeline.settings"


def test_defaults_with_nothing_set() -> None:
    settings = load_settings({})
    assert settings.base_url is None and settings.api_key is None
    assert settings.lake_root == "data/lake"
    assert settings.warehouse_url.get_secret_value() == "duckdb:///data/warehouse.duckdb"
    assert settings.parallel_downloads == 4
    assert settings.exports_in_flight == 32
    assert settings.claim_lease_seconds == 120.0
    assert settings.publish_stages == ("Published",)
    assert settings.lake_fsync == "batched"


def test_the_environment_source_and_a_mapping_read_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "NUDGESCRIBE_BASE_URL": "https://api.example.com/v1/",
        "NUDGESCRIBE_API_KEY": "k",
        "NUDGESCRIBE_DOWNLOAD_HOSTS": "Files.Example.com, *.s3.amazonaws.com,",
        "NUDGE_PUBLISH_STAGES": "Published, Ready to Publish, Published",
        "NUDGE_LAKE_FSYNC": " Each ",
        "NUDGE_EXPORTS_IN_FLIGHT": "8",
        "NUDGE_CLAIM_LEASE_SECONDS": "30.5",
        "NUDGE_LAKE_ROOT": "   ",
        "AWS_REGION": "eu-west-1",
    }
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    from_environment = load_settings()
    assert from_environment == load_settings(values)
    assert from_environment.base_url == "https://api.example.com"
    assert from_environment.download_hosts == ("files.example.com", "*.s3.amazonaws.com")
    assert from_environment.publish_stages == ("Published", "Ready to Publish")
    assert from_environment.lake_fsync == "each"
    assert from_environment.exports_in_flight == 8
    assert from_environment.claim_lease_seconds == 30.5
    assert from_environment.lake_root == "data/lake"  # blank counts as unset
    assert from_environment.s3_region == "eu-west-1"
    # A mapping is read alone, not over the process environment.
    assert load_settings({}).s3_region is None
    assert load_settings({}, exports_in_flight=2).exports_in_flight == 2
    # The first of a setting's variables wins.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    assert load_settings().s3_region == "us-east-2"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("NUDGE_PARALLEL_DOWNLOADS", "x", "a whole number ≥ 1"),
        ("NUDGE_PARALLEL_DOWNLOADS", "0", "a whole number ≥ 1"),
        ("NUDGE_EXPORTS_IN_FLIGHT", "2.5", "a whole number ≥ 1"),
        ("NUDGE_CLAIM_LEASE_SECONDS", "0", "a number > 0"),
        ("NUDGE_EXPORT_SETTLE_SECONDS", "soon", "a number ≥ 0"),
        ("NUDGE_LAKE_FSYNC", "sometimes", "one of batched, each, off"),
        ("NUDGESCRIBE_EXPORT_TYPE", "json", "one of utf8, url"),
        ("NUDGESCRIBE_BASE_URL", "client-api.nudgescribe.com", "an http(s) URL such as https://"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({variable: value})
    message = str(info.value)
    assert message.startswith(f"{variable} must be {expected}")
    assert message.endswith(f", got {value!r}")


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"NUDGE_EXPORTS_IN_FLIGHT": "-1", "NUDGE_PARALLEL_DOWNLOADS": "many"})
    assert "NUDGE_EXPORTS_IN_FLIGHT" in str(info.value)
    assert "NUDGE_PARALLEL_DOWNLOADS" in str(info.value)


def test_secrets_never_show_in_repr() -> None:
    secrets = {
        "NUDGESCRIBE_API_CODE": "code-value-1",
        "NUDGESCRIBE_API_KEY": "key-value-2",
        "NUDGESCRIBE_API_SECRET": "secret-value-3",
        "NUDGESCRIBE_TOKEN": "token-value-4",
        "NUDGESCRIBE_PROFILE_KEY": "profile-value-5",
        "NUDGESCRIBE_X_API_KEY": "xkey-value-6",
        "NUDGE_WAREHOUSE_URL": "postgresql://u:pw-value-7@db/x",
    }
    settings = load_settings(secrets)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for value in secrets.values():
        assert value not in shown
    assert settings.api_secret is not None
    assert settings.api_secret.get_secret_value() == "secret-value-3"


def test_missing_api_settings_are_named() -> None:
    message = load_settings({}).missing_api_message()
    assert message is not None
    for variable in (
        "NUDGESCRIBE_BASE_URL",
        "NUDGESCRIBE_API_CODE",
        "NUDGESCRIBE_API_KEY + NUDGESCRIBE_API_SECRET",
        "NUDGESCRIBE_TOKEN",
        "nudge-pipeline demo",
    ):
        assert variable in message
    token_only = load_settings(
        {
            "NUDGESCRIBE_BASE_URL": "https://a.example.com",
            "NUDGESCRIBE_API_CODE": "c",
            "NUDGESCRIBE_TOKEN": "t",
        }
    )
    assert token_only.missing_api_message() is None
    key_only = load_settings({"NUDGESCRIBE_API_KEY": "k", "NUDGESCRIBE_TOKEN": " "})
    assert key_only.missing_api_variables() == [
        "NUDGESCRIBE_BASE_URL",
        "NUDGESCRIBE_API_CODE",
        "NUDGESCRIBE_API_KEY + NUDGESCRIBE_API_SECRET (or NUDGESCRIBE_TOKEN)",
    ]


def test_client_config_is_built_from_the_settings() -> None:
    settings = load_settings(
        {
            "NUDGESCRIBE_BASE_URL": "https://api.example.com",
            "NUDGESCRIBE_API_CODE": "c0de",
            "NUDGESCRIBE_API_KEY": "key",
            "NUDGESCRIBE_API_SECRET": "secret",
            "NUDGESCRIBE_DOWNLOAD_HOSTS": "files.example.com",
            "NUDGE_EXPORT_SETTLE_SECONDS": "3",
        }
    )
    config = ClientConfig.from_settings(settings, max_attempts=2)
    assert (config.api_code, config.api_key, config.api_secret) == ("c0de", "key", "secret")
    assert config.download_hosts == ("files.example.com",)
    assert config.settle_seconds == 3.0 and config.max_attempts == 2
    with pytest.raises(ConfigError, match="NUDGESCRIBE_BASE_URL"):
        ClientConfig.from_settings(load_settings({}))
    assert isinstance(ConfigError("x"), SettingsError)


def test_resources_take_values_from_the_model_and_secrets_as_env_vars() -> None:
    env = {
        "NUDGESCRIBE_BASE_URL": "https://api.example.com",
        "NUDGESCRIBE_API_CODE": "c0de",
        "NUDGESCRIBE_TOKEN": "tok",
        "NUDGE_PARALLEL_DOWNLOADS": "6",
        "NUDGE_PUBLISH_STAGES": "Published,Ready to Publish",
        "NUDGE_LAKE_ROOT": "/srv/lake",
    }
    resources = resources_from_env(env)
    api = resources["nudgescribe"]
    assert api.base_url == "https://api.example.com"
    assert api.api_code == dg.EnvVar("NUDGESCRIBE_API_CODE")
    assert api.token == dg.EnvVar("NUDGESCRIBE_TOKEN")
    assert api.api_key == "" and api.api_secret == ""  # unset: no EnvVar that would fail runs
    assert api.parallel_downloads == 6
    assert api.allowed_stages() == ("Published", "Ready to Publish")
    assert resources["lake"].root == "/srv/lake"
    assert resources["warehouse"].url == default_of("warehouse_url")
    with_url = resources_from_env({**env, "NUDGE_WAREHOUSE_URL": "postgresql://u:p@db/x"})
    assert with_url["warehouse"].url == dg.EnvVar("NUDGE_WAREHOUSE_URL")
    with pytest.raises(SettingsError, match="NUDGE_PARALLEL_DOWNLOADS"):
        resources_from_env({**env, "NUDGE_PARALLEL_DOWNLOADS": "lots"})


def test_the_lake_reads_only_its_own_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NUDGE_PARALLEL_DOWNLOADS", "not a number")  # not the lake's concern
    monkeypatch.setenv("NUDGE_LAKE_FSYNC", "OFF")
    assert Lake(tmp_path).fsync == "off"
    monkeypatch.setenv("NUDGE_LAKE_FSYNC", "never")
    with pytest.raises(SettingsError, match="NUDGE_LAKE_FSYNC must be one of"):
        Lake(tmp_path)


def test_a_new_dagster_home_gets_the_projects_instance_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project_yaml = (ROOT / "dagster_home" / "dagster.yaml").read_text(encoding="utf-8")
    assert project_yaml == INSTANCE_YAML
    for name in ("NUDGE_LAKE_ROOT", "NUDGE_WAREHOUSE_URL", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    prepared = prepare_environment(None, None, None)
    home = Path(prepared["DAGSTER_HOME"])
    assert home == tmp_path / "dagster_home"
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == project_yaml
    assert prepared["NUDGE_LAKE_ROOT"] == str(tmp_path / "data" / "lake")
    # One pool limit for the local instance, the same as production's.
    local = yaml.safe_load(project_yaml)["concurrency"]["pools"]["default_limit"]
    deployed = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text(encoding="utf-8"))
    assert local == deployed["concurrency"]["pools"]["default_limit"] == 4


def unconfigured_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ALL_VARIABLES}
    return {**env, "COLUMNS": "200", **extra}


def _sync_in(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "sync"], env=env, cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )


def test_sync_with_nothing_configured_says_what_to_set(tmp_path: Path) -> None:
    result = _sync_in(tmp_path, unconfigured_env())
    assert result.returncode == 2
    for variable in (
        "NUDGESCRIBE_BASE_URL",
        "NUDGESCRIBE_API_CODE",
        "NUDGESCRIBE_API_KEY + NUDGESCRIBE_API_SECRET",
        "NUDGESCRIBE_TOKEN",
        "`nudge-pipeline demo` needs none",
    ):
        assert variable in result.stderr
    assert not (tmp_path / "dagster_home").exists()  # stopped before touching anything


def test_sync_with_a_bad_value_names_it(tmp_path: Path) -> None:
    result = _sync_in(tmp_path, unconfigured_env(NUDGE_EXPORTS_IN_FLIGHT="two"))
    assert result.returncode == 2
    assert "NUDGE_EXPORTS_IN_FLIGHT must be a whole number ≥ 1, got 'two'" in result.stderr
