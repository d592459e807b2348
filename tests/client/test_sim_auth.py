"""Authentication against the simulator: login, refresh, re-auth, and 401 request errors."""

from __future__ import annotations

import time
from typing import Any

import pytest

from nudge_pipeline.nudgescribe import AuthError, NotFoundError, RequestError, quirks
from nudge_pipeline.nudgescribe import auth as auth_module

from .conftest import calls, sim_client

LOGIN = "POST /v1/auth"
REAUTH = "GET /v1/auth"


class _ShiftedClock:
    """time as the client sees it, `offset` seconds in the future."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def time(self) -> float:
        return time.time() + self.offset


def published_run(client: Any) -> tuple[str, str]:
    campaign = next(c for c in client.list_campaigns() if c.stage == "Published")
    run = next(r for r in client.list_runs(campaign.campaign_id) if r.status == "completed")
    return campaign.campaign_id, run.run_id


def test_one_login_serves_many_calls(simulator: Any) -> None:
    simulator.reset_stats()
    with sim_client(simulator) as client:
        for _ in range(3):
            client.list_campaigns()
    stats = simulator.stats()
    assert calls(stats, LOGIN) == 1 and calls(stats, REAUTH) == 0
    assert calls(stats, "POST /v1/campaign/all") == 3


def test_clients_of_one_process_share_one_login(simulator: Any) -> None:
    simulator.reset_stats()
    for _ in range(3):  # as each Dagster step of a sync opens its own client
        with sim_client(simulator) as client:
            client.list_campaigns()
    stats = simulator.stats()
    assert calls(stats, LOGIN) == 1 and calls(stats, REAUTH) == 0
    other = simulator.other_account
    with sim_client(simulator, other) as client:
        client.list_campaigns()
    assert calls(simulator.stats(), LOGIN) == 2, "another account's client logs in itself"


def test_static_token_mode_makes_no_auth_calls(simulator: Any) -> None:
    token = simulator.mint_token()
    simulator.reset_stats()
    with sim_client(simulator, api_key=None, api_secret=None, token=token) as client:
        assert client.list_campaigns()
    stats = simulator.stats()
    assert calls(stats, LOGIN) == 0 and calls(stats, REAUTH) == 0


def test_missing_required_fields_401_is_a_request_error_with_no_auth_calls(
    simulator: Any,
) -> None:
    with sim_client(simulator) as client:
        campaign_id, _ = published_run(client)
        simulator.reset_stats()
        with pytest.raises(RequestError) as info:
            # Without run_id the contract allows "Missing required fields.".
            client._transport.call("POST", quirks.EXPORT_PAGES_PATH, {"campaign_id": campaign_id})
    assert info.value.status == 401 and "Missing required fields." in info.value.message
    assert not isinstance(info.value, AuthError)
    stats = simulator.stats()
    assert calls(stats, LOGIN) == 0 and calls(stats, REAUTH) == 0
    assert calls(stats, "POST /v1/messages/pages") == 1


def test_invalid_export_option_and_unknown_campaign(simulator: Any) -> None:
    with sim_client(simulator) as client:
        campaign_id, run_id = published_run(client)
        simulator.reset_stats()
        body = {"campaign_id": campaign_id, "run_id": run_id, "file_num": 0, "export_type": "xml"}
        with pytest.raises(RequestError, match="Invalid export option."):
            client._transport.call("POST", quirks.FETCH_PATH, body)
        with pytest.raises(NotFoundError, match="Campaign not found."):
            client.list_runs("no-such-campaign")
    stats = simulator.stats()
    assert calls(stats, LOGIN) == 0
    assert calls(stats, "POST /v1/messages/fetch") == 1


def test_another_accounts_campaign_is_not_found_never_data(simulator: Any) -> None:
    with sim_client(simulator) as mine, sim_client(simulator, simulator.other_account) as theirs:
        campaign_id, run_id = published_run(theirs)
        with pytest.raises(NotFoundError):
            mine.list_runs(campaign_id)
        with pytest.raises(NotFoundError):
            mine.export_status(campaign_id, run_id)


@pytest.mark.parametrize("failure_status", [401, 403])
def test_auth_failure_logs_in_once_and_retries_once(
    make_simulator: Any, failure_status: int
) -> None:
    sim = make_simulator(auth_failure_status=failure_status)
    # A token the server rejects but the client cannot see is bad (no readable exp).
    with sim_client(sim, token="not-a-jwt-at-all") as client:
        assert client.list_campaigns()
    stats = sim.stats()
    assert calls(stats, LOGIN) == 1
    assert calls(stats, "POST /v1/campaign/all") == 2
    assert stats["responses"]["POST /v1/campaign/all"] == {str(failure_status): 1, "200": 1}


def test_wrong_credentials_fail_fast_without_a_login_loop(simulator: Any) -> None:
    simulator.reset_stats()
    with sim_client(simulator, api_secret="wrong-secret") as client, pytest.raises(AuthError):
        client.list_campaigns()
    with sim_client(simulator, api_code="wrong-code") as client, pytest.raises(AuthError) as info:
        client.list_campaigns()
    assert "wrong-code" not in str(info.value)
    stats = simulator.stats()
    assert calls(stats, LOGIN) <= 2
    assert calls(stats, "POST /v1/campaign/all") == 0


def test_refresh_inside_grace_uses_get_and_outside_logs_in(
    simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sim_client(simulator) as client:
        client.list_campaigns()
        token = client._transport.tokens._token
        assert token is not None and token.expires_at is not None
        simulator.reset_stats()
        # Just past exp, inside the 5-minute grace window: re-authenticate.
        monkeypatch.setattr(auth_module, "time", _ShiftedClock(token.expires_at - time.time() + 10))
        client.list_campaigns()
        stats = simulator.stats()
        assert calls(stats, REAUTH) == 1 and calls(stats, LOGIN) == 0
        renewed = client._transport.tokens._token
        assert renewed is not None and renewed.expires_at is not None
        simulator.reset_stats()
        # Far past the grace window: a fresh login, no doomed re-authenticate.
        assert renewed.expires_at is not None
        monkeypatch.setattr(
            auth_module, "time", _ShiftedClock(renewed.expires_at - time.time() + 400)
        )
        client.list_campaigns()
        stats = simulator.stats()
        assert calls(stats, LOGIN) == 1 and calls(stats, REAUTH) == 0


def test_short_lived_tokens_are_refreshed_before_they_expire(make_simulator: Any) -> None:
    sim = make_simulator(token_ttl=3)
    with sim_client(sim) as client:
        for _ in range(5):
            client.list_campaigns()
            time.sleep(1.0)
    stats = sim.stats()
    assert calls(stats, REAUTH) >= 1
    # Proactive: the server never had to refuse an expired token.
    assert set(stats["responses"]["POST /v1/campaign/all"]) == {"200"}
