"""deploy/helm-values.yaml renders the same instance settings as deploy/dagster.yaml."""

from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def instance_yaml() -> dict[str, Any]:
    return _load("dagster.yaml")


@pytest.fixture(scope="module")
def helm() -> dict[str, Any]:
    return _load("helm-values.yaml")


def test_run_queue_and_pool_match(instance_yaml: dict[str, Any], helm: dict[str, Any]) -> None:
    runs, pools = instance_yaml["concurrency"]["runs"], instance_yaml["concurrency"]["pools"]
    assert helm["concurrency"] == {
        "enabled": True,
        "runs": {
            "maxConcurrentRuns": runs["max_concurrent_runs"],
            "tagConcurrencyLimits": runs["tag_concurrency_limits"],
        },
        "pools": {
            "granularity": pools["granularity"],
            "defaultLimit": pools["default_limit"],
            "opGranularityRunBuffer": pools["op_granularity_run_buffer"],
        },
    }
    coordinator = helm["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == instance_yaml["run_coordinator"]["class"]
    assert coordinator["config"]["queuedRunCoordinator"] == {
        "dequeueIntervalSeconds": instance_yaml["run_coordinator"]["config"][
            "dequeue_interval_seconds"
        ]
    }


def test_run_monitoring_and_retries_match(
    instance_yaml: dict[str, Any], helm: dict[str, Any]
) -> None:
    daemon = helm["dagsterDaemon"]
    assert {_snake(k): v for k, v in daemon["runMonitoring"].items()} == (
        instance_yaml["run_monitoring"]
    )
    assert {_snake(k): v for k, v in daemon["runRetries"].items()} == instance_yaml["run_retries"]
    assert helm["telemetry"] == instance_yaml["telemetry"]


def test_storage_uses_the_same_driver(instance_yaml: dict[str, Any], helm: dict[str, Any]) -> None:
    scheme = instance_yaml["storage"]["postgres"]["postgres_db"]["scheme"]
    assert helm["postgresql"]["postgresqlScheme"] == scheme


def test_run_pods_get_the_pipeline_settings(helm: dict[str, Any]) -> None:
    (code,) = helm["dagster-user-deployments"]["deployments"]
    launcher = helm["runLauncher"]["config"]["k8sRunLauncher"]
    assert helm["runLauncher"]["type"] == "K8sRunLauncher"
    for holder in (code, launcher):
        assert holder["envConfigMaps"] == [{"name": "nudge-pipeline-env"}]
        assert holder["envSecrets"] == [{"name": "nudge-pipeline-secrets"}]
    assert code["includeConfigInLaunchedRuns"] == {"enabled": True}


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
