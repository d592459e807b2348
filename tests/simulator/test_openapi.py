"""Property-based requests from the simulator's own OpenAPI schema: no 500 without a fault."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from nudge_pipeline.simulator import SimConfig, SimHandle, run_simulator
from tests.simulator.api import Api


@pytest.fixture(scope="module")
def schema_sim() -> Iterator[SimHandle]:
    with run_simulator(SimConfig(export_duration=0)) as sim:
        yield sim


@pytest.fixture(scope="module")
def api_schema(schema_sim: SimHandle) -> Any:
    return schemathesis.openapi.from_url(f"{schema_sim.base_url}/openapi.json")


@pytest.fixture(scope="module")
def auth_headers(schema_sim: SimHandle) -> dict[str, str]:
    return Api(schema_sim).headers()


def _run_every_operation(api_schema: Any, headers: dict[str, str], examples: int) -> list[int]:
    """Property-based requests to every operation in the schema; the statuses they got."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 16
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            if 400 <= response.status_code < 500:
                assert isinstance(response.json().get("message"), str), (case.path, response.text)

        call()
    return statuses


def test_no_server_errors(api_schema: Any, auth_headers: dict[str, str]) -> None:
    statuses = _run_every_operation(api_schema, auth_headers, examples=12)
    assert statuses and max(statuses) < 500, sorted(set(statuses))


def test_every_server_error_is_an_injected_fault(
    schema_sim: SimHandle, api_schema: Any, auth_headers: dict[str, str]
) -> None:
    schema_sim.configure(fault_5xx_rate=0.3)
    schema_sim.reset_stats()
    try:
        statuses = _run_every_operation(api_schema, auth_headers, examples=4)
    finally:
        schema_sim.configure(fault_5xx_rate=0.0)
    server_errors = sum(1 for status in statuses if status >= 500)
    injected = schema_sim.stats()["faults_injected"]
    assert server_errors > 0
    assert server_errors == sum(injected.get(str(s), 0) for s in (500, 502, 503, 504))


def test_schema_lists_every_contract_endpoint(schema_sim: SimHandle, api: Api) -> None:
    paths = api.http.get(f"{schema_sim.base_url}/openapi.json").json()["paths"]
    expected = {
        "/v1/auth": {"get", "post"},
        "/v1/cg": {"post", "put", "patch", "delete"},
        "/v1/customer/pages": {"post"},
        "/v1/customer": {"post"},
        "/v1/fields": {"post"},
        "/v1/campaign/all": {"post"},
        "/v1/campaign/rerun/history": {"post"},
        "/v1/campaign/rerun/messages": {"post"},
        "/v1/campaign/rerun": {"post"},
        "/v1/messages/publish": {"post"},
        "/v1/messages/pages": {"post"},
        "/v1/messages/fetch": {"post"},
    }
    assert {path: set(ops) for path, ops in paths.items()} == expected
