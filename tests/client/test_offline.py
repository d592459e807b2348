"""Pieces that need no server: configuration, quirk rules, redaction, URL policy, profiles."""

from __future__ import annotations

import logging
import time
from email.utils import formatdate

import pytest
from cryptography.fernet import Fernet

from nudge_pipeline.nudgescribe import (
    ClientConfig,
    ConfigError,
    DownloadRefusedError,
    ProfileDecryptionError,
    RequestError,
    decrypt_profile,
    quirks,
)
from nudge_pipeline.nudgescribe.redaction import LOGGER_NAME, redact
from nudge_pipeline.nudgescribe.transport import parse_retry_after
from nudge_pipeline.nudgescribe.urls import DownloadPolicy

from .conftest import fake_jwt


def test_from_env_reads_every_variable_and_strips_v1() -> None:
    env = {
        "NUDGESCRIBE_BASE_URL": "https://client-api.nudgescribe.com/v1/",
        "NUDGESCRIBE_API_CODE": " code-1 ",
        "NUDGESCRIBE_API_KEY": "key-1",
        "NUDGESCRIBE_API_SECRET": "secret-1",
        "NUDGESCRIBE_X_IP": "10.1.2.3",
        "NUDGESCRIBE_X_API_KEY": "xkey-1",
        "NUDGESCRIBE_DOWNLOAD_HOSTS": "files.example.com, *.s3.amazonaws.com",
    }
    config = ClientConfig.from_env(env)
    assert config.base_url == "https://client-api.nudgescribe.com"
    assert config.api_code == "code-1"
    assert config.x_ip == "10.1.2.3"
    assert config.x_api_key == "xkey-1"
    assert config.download_hosts == ("files.example.com", "*.s3.amazonaws.com")
    assert config.api_host == "client-api.nudgescribe.com"
    assert not config.static_token
    assert "secret-1" not in repr(config) and "code-1" not in repr(config)


def test_from_env_static_token_and_missing_settings() -> None:
    token = fake_jwt()
    config = ClientConfig.from_env(
        {
            "NUDGESCRIBE_BASE_URL": "http://127.0.0.1:1",
            "NUDGESCRIBE_API_CODE": "c0de",
            "NUDGESCRIBE_TOKEN": token,
        }
    )
    assert config.static_token and config.x_ip == "127.0.0.1"
    with pytest.raises(ConfigError, match="NUDGESCRIBE_BASE_URL"):
        ClientConfig.from_env({})
    with pytest.raises(ConfigError, match="api_key and api_secret") as info:
        ClientConfig.from_env(
            {
                "NUDGESCRIBE_BASE_URL": "http://x",
                "NUDGESCRIBE_API_CODE": "c0de",
                "NUDGESCRIBE_API_KEY": "only-the-key",
            }
        )
    assert "only-the-key" not in str(info.value)


@pytest.mark.parametrize(
    ("status", "message", "auth"),
    [
        (401, "jwt expired", True),
        (403, "Unauthorized", True),
        (401, "Unauthorised", True),
        (401, "auth error", True),
        (403, "invalid token", True),
        (403, "", True),
        (401, "Missing required fields.", False),
        (401, "Campaign not found.", False),
        (401, "Invalid export option.", False),
        (401, "Campaign/details not found.", False),
        (500, "jwt expired", False),
    ],
)
def test_auth_failures_are_told_apart_from_401_request_errors(
    status: int, message: str, auth: bool
) -> None:
    assert quirks.is_auth_failure(status, message) is auth


def test_retry_after_both_forms() -> None:
    now = time.time()
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    in_ten = formatdate(now + 10, usegmt=True)
    assert 8.5 <= (parse_retry_after(in_ten, now=now) or 0) <= 10.0
    assert parse_retry_after(formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_redaction_scrubs_tokens_secrets_ciphertext_and_signed_queries() -> None:
    token = fake_jwt()
    ClientConfig(
        base_url="http://127.0.0.1:9",
        api_code="code-xyz-123",
        token=token,
        api_key="key-abc-123",
        api_secret="sec-abc-123",
    )
    text = (
        f"Bearer {token} api_code=code-xyz-123 secret=sec-abc-123 "
        "value=enc:v1:gAAAAABsecretstuff url=https://s.example.com/f.csv?sig=abc&exp=1"
    )
    cleaned = redact(text)
    for leaked in (token, "code-xyz-123", "sec-abc-123", "gAAAAABsecretstuff", "sig=abc"):
        assert leaked not in cleaned
    assert "https://s.example.com/f.csv?" in cleaned


def test_log_records_are_redacted_at_the_source(caplog: pytest.LogCaptureFixture) -> None:
    token = fake_jwt()
    with caplog.at_level(logging.DEBUG, logger=LOGGER_NAME):
        logging.getLogger(LOGGER_NAME).debug("sending %s", f"Bearer {token}")
    assert caplog.records and token not in caplog.text


def test_error_text_never_carries_a_registered_secret() -> None:
    ClientConfig(
        base_url="http://127.0.0.1:9",
        api_code="code-err-777",
        api_key="k-err-777",
        api_secret="s-err-777",
    )
    error = RequestError("POST /v1/x", 401, "bad api_code code-err-777 for s-err-777")
    assert "code-err-777" not in str(error) and "s-err-777" not in str(error)
    assert error.endpoint == "POST /v1/x" and error.status == 401


def test_download_policy() -> None:
    policy = DownloadPolicy(["127.0.0.1", "files.example.com", "*.example.org"], "POST /f")
    assert policy.check("http://127.0.0.1:8000/storage/a.csv?sig=1")
    assert policy.check("https://files.example.com/a.csv")
    with pytest.raises(DownloadRefusedError, match="only https"):
        policy.check("http://files.example.com/a.csv")
    with pytest.raises(DownloadRefusedError, match="allow-list"):
        policy.check("https://evil.example.net/a.csv")
    with pytest.raises(DownloadRefusedError, match="not an http"):
        policy.check("ftp://files.example.com/a.csv")
    with pytest.raises(DownloadRefusedError, match="credentials"):
        policy.check("https://user:pw@files.example.com/a.csv")
    # A wildcard entry never admits a host that resolves to an internal address.
    with pytest.raises(DownloadRefusedError, match="private|resolve"):
        DownloadPolicy(["*.localhost"], "POST /f").check("https://x.localhost/a.csv")
    with pytest.raises(DownloadRefusedError, match="allow-list"):
        DownloadPolicy(["files.example.com"], "POST /f").check("https://10.0.0.5/a.csv")


def test_profile_decryption_and_wrong_key() -> None:
    key = Fernet.generate_key().decode()
    token = Fernet(key.encode()).encrypt(b"Ada Lovelace").decode()
    profile = {"name": f"enc:v1:{token}", "age": 36, "city": "NA"}
    assert decrypt_profile(profile, key) == {"name": "Ada Lovelace", "age": 36, "city": "NA"}
    assert decrypt_profile(profile, None) == profile
    other = Fernet.generate_key().decode()
    with pytest.raises(ProfileDecryptionError) as info:
        decrypt_profile(profile, other)
    assert "name" in str(info.value)
    for leaked in (token, "Ada", other):
        assert leaked not in str(info.value)
    with pytest.raises(ProfileDecryptionError, match="not a valid Fernet key") as bad:
        decrypt_profile(profile, "short-key")
    assert "short-key" not in str(bad.value)
