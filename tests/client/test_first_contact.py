"""A host that never answered fails the first call fast, with the URL; one that did is retried."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from nudge_pipeline.nudgescribe import (
    ClientConfig,
    NudgescribeClient,
    TransientError,
    UnreachableHostError,
)
from nudge_pipeline.nudgescribe.redaction import LOGGER_NAME
from tests.loopback_server import LoopbackServer, RawAnswer

from .conftest import FAST, fake_jwt

# Loose: the point is seconds instead of the two minutes the retries allow.
FAST_FAILURE_SECONDS = 15.0


def refused_port() -> int:
    """A loopback port nothing listens on: bound once, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def campaigns_answer(*_request: object) -> RawAnswer:
    return RawAnswer(200, b"[]", {"Content-Type": "application/json"})


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    server = LoopbackServer(campaigns_answer)
    server.start()
    yield server
    server.close()


@pytest.mark.parametrize(
    ("credentials", "first_call"),
    [
        ({"token": fake_jwt()}, "/v1/campaign/all"),
        ({"api_key": "key", "api_secret": "secret"}, "/v1/auth"),
    ],
)
def test_a_refused_first_call_fails_within_seconds_naming_the_url(
    credentials: dict[str, str], first_call: str
) -> None:
    base_url = f"http://127.0.0.1:{refused_port()}"
    # The client's default retry budget: six attempts within two minutes.
    config = ClientConfig(base_url=base_url, api_code="code", **credentials)
    assert config.retry_max_seconds >= 60
    error = _first_call_fails_fast(config)
    assert f"{base_url}{first_call}" in str(error)
    assert "connection refused" in str(error)
    assert error.status is None and not error.outcome_unknown


def test_an_unknown_host_fails_within_seconds_naming_the_url() -> None:
    base_url = "https://api.nudgescribe-check.invalid"
    error = _first_call_fails_fast(
        ClientConfig(base_url=base_url, api_code="code", token=fake_jwt())
    )
    assert f"{base_url}/v1/campaign/all" in str(error)
    assert "host not found" in str(error)


def _first_call_fails_fast(config: ClientConfig) -> UnreachableHostError:
    started = time.monotonic()
    with NudgescribeClient(config) as client, pytest.raises(UnreachableHostError) as info:
        client.list_campaigns()
    assert time.monotonic() - started < FAST_FAILURE_SECONDS
    return info.value


def test_after_an_answer_a_refused_connection_is_retried(server: LoopbackServer) -> None:
    config = ClientConfig(
        base_url=server.url, api_code="code", token=fake_jwt(), **{**FAST, "max_attempts": 30}
    )
    with NudgescribeClient(config) as client:
        assert client.list_campaigns() == []
        port = server.port
        server.close()
        # The server comes back on the same port while the client is retrying.
        revived: list[LoopbackServer] = []

        def revive() -> None:
            time.sleep(0.4)
            again = LoopbackServer(campaigns_answer, port=port)
            again.start()
            revived.append(again)

        reviver = threading.Thread(target=revive)
        reviver.start()
        try:
            assert client.list_campaigns() == []
        finally:
            reviver.join()
            for again in revived:
                again.close()
    assert revived, "the call succeeded before the server came back"


def test_a_new_client_of_a_host_that_answered_retries_too(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = ClientConfig(
        base_url=server.url, api_code="code", token=fake_jwt(), **{**FAST, "max_attempts": 3}
    )
    with NudgescribeClient(config) as client:
        assert client.list_campaigns() == []
    server.close()
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    with NudgescribeClient(config) as client, pytest.raises(TransientError) as info:
        client.list_campaigns()
    # Retried to the end of its attempts, as any dropped connection, not failed fast.
    assert not isinstance(info.value, UnreachableHostError)
    retries = [r for r in caplog.records if r.getMessage().startswith("attempt ")]
    assert len(retries) == 2
