from collections.abc import Iterator

import pytest

from nudge_pipeline.nudgescribe.auth import forget_tokens

pytest_plugins = ["tests.fixtures.simulator", "tests.fixtures.databases", "tests.fixtures.moto_s3"]


@pytest.fixture(autouse=True)
def _each_test_logs_in_afresh() -> Iterator[None]:
    # Clients of one process share the token they obtain; tests count logins from zero.
    forget_tokens()
    yield
    forget_tokens()
