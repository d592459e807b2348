from __future__ import annotations

import pytest

from nudge_pipeline.simulator import SimHandle
from tests.simulator.api import Api


@pytest.fixture(scope="session")
def api(simulator: SimHandle) -> Api:
    return Api(simulator)


@pytest.fixture(scope="session")
def other_api(simulator: SimHandle) -> Api:
    return Api(simulator, simulator.other_account)
