"""Auth: real HS256 JWTs, header checks in the documented order, re-auth grace, isolation."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from nudge_pipeline.simulator import SimHandle
from tests.simulator.api import Api, context_header, error_of


def test_token_is_hs256_jwt_with_documented_claims(api: Api, simulator: SimHandle) -> None:
    header = jwt.get_unverified_header(api.token)
    claims = jwt.decode(api.token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert claims["account_id"] == simulator.account.account_id
    assert {"user_id", "account_id", "role_code", "exp"} <= set(claims)
    assert claims["exp"] > time.time() + simulator.config.token_ttl - 60


def test_auth_response_shape(api: Api, simulator: SimHandle) -> None:
    response = api.http.post(
        f"{simulator.base_url}/v1/auth",
        json={"api_key": simulator.account.api_key, "api_secret": simulator.account.api_secret},
        headers=api.base_headers(),
    )
    body = response.json()
    assert set(body) == {"token", "expires_in"}
    assert body["expires_in"] == int(simulator.config.token_ttl)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"api_key": "nope", "api_secret": "nope"}, 403, "Unauthorized"),
        ({"api_key": "only-key"}, 401, "Missing required fields."),
    ],
)
def test_auth_rejections(
    api: Api, simulator: SimHandle, body: dict, status: int, message: str
) -> None:
    response = api.http.post(f"{simulator.base_url}/v1/auth", json=body, headers=api.base_headers())
    assert error_of(response) == (status, message)


def test_auth_malformed_json(api: Api, simulator: SimHandle) -> None:
    response = api.http.post(
        f"{simulator.base_url}/v1/auth",
        data=b"{not json",
        headers=api.base_headers() | {"content-type": "application/json"},
    )
    assert error_of(response) == (400, "Malformed JSON")


def test_header_checks_run_in_documented_order(api: Api, simulator: SimHandle) -> None:
    good = api.headers()
    bad_code = context_header("wrong-code")
    no_access = context_header(simulator.api_code, api_access=False)
    cases = [
        # api_code is checked first, even with a broken JWT.
        (good | {"x-auth-context": bad_code, "authorization": "Bearer junk"}, "Unauthorized"),
        ({k: v for k, v in good.items() if k != "x-auth-context"}, "Unauthorized"),
        ({k: v for k, v in good.items() if k != "authorization"}, "auth error"),
        # JWT before api_access: a bad token with api_access false is a token error.
        (good | {"authorization": "Bearer junk", "x-auth-context": no_access}, "invalid token"),
        (good | {"x-auth-context": no_access}, "Unauthorized"),
        ({k: v for k, v in good.items() if k != "x-ip"}, "auth error"),
        (good | {"x-api-key": "not-the-key"}, "Unauthorized"),
    ]
    for headers, message in cases:
        response = api.call("POST", "/v1/campaign/all", {}, headers=headers)
        assert error_of(response) == (403, message), headers


def test_login_checks_api_code_api_access_and_x_ip(api: Api, simulator: SimHandle) -> None:
    body = {"api_key": simulator.account.api_key, "api_secret": simulator.account.api_secret}
    good = api.base_headers()
    cases = [
        (good | {"x-auth-context": context_header("wrong-code")}, "Unauthorized"),
        (good | {"x-auth-context": context_header(simulator.api_code, False)}, "Unauthorized"),
        ({k: v for k, v in good.items() if k != "x-ip"}, "auth error"),
    ]
    for headers, message in cases:
        response = api.http.post(f"{simulator.base_url}/v1/auth", json=body, headers=headers)
        assert error_of(response) == (403, message), headers


def test_auth_failures_can_come_with_an_empty_body(make_simulator: Any) -> None:
    sim = make_simulator(auth_failure_empty_body=True)
    client = Api(sim)
    for headers in (
        client.base_headers() | {"authorization": "Bearer junk"},
        client.headers() | {"x-auth-context": context_header("wrong-code")},
    ):
        response = client.call("POST", "/v1/campaign/all", {}, headers=headers)
        assert (response.status_code, response.content) == (403, b"")
    # Request errors keep their message.
    missing = client.post("/v1/campaign/rerun/history", {})
    assert error_of(missing) == (401, "Missing required fields.")


def test_optional_x_api_key_accepted_when_it_matches(api: Api, simulator: SimHandle) -> None:
    headers = api.headers() | {"x-api-key": simulator.account.api_key}
    assert api.call("POST", "/v1/campaign/all", {}, headers=headers).status_code == 200


def test_forged_signature_is_invalid_token(api: Api, simulator: SimHandle) -> None:
    claims = jwt.decode(api.token, options={"verify_signature": False})
    forged = jwt.encode(
        claims, "a-different-secret-that-is-long-enough-for-hs256", algorithm="HS256"
    )
    headers = api.headers() | {"authorization": f"Bearer {forged}"}
    assert error_of(api.call("POST", "/v1/campaign/all", {}, headers=headers)) == (
        403,
        "invalid token",
    )


def test_expired_token_and_reauth_grace(api: Api, simulator: SimHandle) -> None:
    recently_expired = simulator.mint_token(ttl=-60)
    long_expired = simulator.mint_token(ttl=-301)
    for token, expected in ((recently_expired, 200), (long_expired, 403)):
        headers = api.base_headers() | {"authorization": f"Bearer {token}"}
        response = api.call("POST", "/v1/campaign/all", {}, headers=headers)
        assert error_of(response) == (403, "jwt expired")
        reauth = api.call("GET", "/v1/auth", None, headers=headers)
        assert reauth.status_code == expected
    grace_headers = api.base_headers() | {"authorization": f"Bearer {recently_expired}"}
    fresh = api.call("GET", "/v1/auth", None, headers=grace_headers).json()["token"]
    headers = api.base_headers() | {"authorization": f"Bearer {fresh}"}
    assert api.call("POST", "/v1/campaign/all", {}, headers=headers).status_code == 200


def test_static_token_mode(api: Api, simulator: SimHandle) -> None:
    token = simulator.mint_token(ttl=3600)
    headers = api.base_headers() | {"authorization": f"Bearer {token}"}
    assert api.call("POST", "/v1/campaign/all", {}, headers=headers).status_code == 200


def test_configurable_ttl_and_status(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(token_ttl=120, auth_failure_status=401)
    client = Api(sim)
    assert client.ok("/v1/auth", method="GET")["expires_in"] == 120
    headers = client.base_headers() | {"authorization": "Bearer junk"}
    assert error_of(client.call("POST", "/v1/campaign/all", {}, headers=headers)) == (
        401,
        "invalid token",
    )


def test_accounts_are_isolated(api: Api, other_api: Api) -> None:
    mine = {c["campaign_id"] for c in api.campaigns()}
    theirs = {c["campaign_id"] for c in other_api.campaigns()}
    assert mine and theirs and not mine & theirs
    foreign = next(iter(theirs))
    body = {"campaign_id": foreign, "run_id": "x", "page": 1, "file_num": 0, "export_type": "utf8"}
    for path in (
        "/v1/campaign/rerun/history",
        "/v1/campaign/rerun/messages",
        "/v1/campaign/rerun",
        "/v1/messages/publish",
        "/v1/messages/pages",
        "/v1/messages/fetch",
    ):
        response = api.post(path, body)
        assert error_of(response) == (401, "Campaign not found."), path
    foreign_ws = other_api.ok("/v1/campaign/all")[0]["workspace_id"]
    assert api.post("/v1/cg", {"workspace_id": foreign_ws}).status_code == 401
