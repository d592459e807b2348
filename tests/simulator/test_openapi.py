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


def test_no_server_errors(api_schema: Any, auth_headers: dict[str, str]) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 16
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        def no_500(case: Any) -> None:
            response = case.call(headers=auth_headers)
            assert response.status_code < 500, (case.method, case.path, case.body, response.text)
            if response.status_code >= 400:
                assert isinstance(response.json().get("message"), str)

        no_500()


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
