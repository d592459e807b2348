"""Responses the simulator never gives, served over real HTTP by a scripted loopback server."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import BinaryIO

import pytest

from nudge_pipeline.nudgescribe import (
    AuthError,
    ContractViolationError,
    DownloadRefusedError,
    ExportFailedError,
    ExportJob,
    ExportTimeoutError,
    NotFoundError,
    QuotaExhaustedError,
    RequestError,
    TransientError,
)

from .conftest import hostile_client
from .hostile import HostileServer, Reply

CSV = b'customer_id,message\r\n007,"Hi, there"\r\n008,"line\nbreak"\r\n'
PAGES = "POST /v1/messages/pages"
PUBLISH = "POST /v1/messages/publish"
FETCH = "POST /v1/messages/fetch"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Every time.sleep duration the client asks for (still really sleeps)."""
    recorded: list[float] = []
    real_sleep = time.sleep

    def recording_sleep(seconds: float) -> None:
        recorded.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", recording_sleep)
    yield recorded


def sha(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(7):
        digest.update(chunk)
    return digest.hexdigest()


# --- headers and errors ----------------------------------------------------------------


def test_every_call_carries_the_vendor_headers(hostile: HostileServer) -> None:
    hostile.route("POST /v1/cg", Reply(body=[]))
    with hostile_client(hostile, x_ip="10.9.8.7", x_api_key="extra-key-1") as client:
        client.list_customer_groups("w1")
        token = client.config.token
    seen = hostile.requests[0]
    assert seen.headers["authorization"] == f"Bearer {token}"
    assert json.loads(seen.headers["x-auth-context"]) == {
        "api_access": True,
        "api_code": "code-for-tests",
    }
    assert seen.headers["x-ip"] == "10.9.8.7"
    assert seen.headers["x-api-key"] == "extra-key-1"
    assert seen.headers["content-type"] == "application/json"
    assert seen.body == {"workspace_id": "w1"}


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, "<html><body>Welcome to nginx</body></html>", {"Content-Type": "text/html"}),
        Reply(
            200, '[{"customer_group_id": "g1", "workspace_', {"Content-Type": "application/json"}
        ),
        Reply(200, {"customer_group_id": "g1"}),  # an object where the contract says list
        Reply(200, [{"group_name": "no id"}]),
    ],
    ids=["html", "truncated-json", "object-not-list", "missing-id"],
)
def test_a_200_that_breaks_the_contract_is_never_data(hostile: HostileServer, reply: Reply) -> None:
    hostile.route("POST /v1/cg", reply)
    with (
        hostile_client(hostile, max_attempts=2) as client,
        pytest.raises(ContractViolationError) as info,
    ):
        client.list_customer_groups("w1")
    assert info.value.endpoint == "POST /v1/cg" and info.value.status == 200


def test_permanent_errors_are_raised_at_once_with_the_server_message(
    hostile: HostileServer,
) -> None:
    hostile.route("POST /v1/cg", Reply(400, {"message": "Malformed JSON"}))
    hostile.route("POST /v1/campaign/rerun/history", Reply(401, {"message": "Campaign not found."}))
    hostile.route("POST /v1/fields", Reply(404, {"message": "Workspace not found."}))
    with hostile_client(hostile) as client:
        with pytest.raises(RequestError, match="Malformed JSON") as bad:
            client.list_customer_groups("w1")
        assert bad.value.status == 400
        with pytest.raises(NotFoundError, match="Campaign not found."):
            client.list_runs("c-404")
        with pytest.raises(NotFoundError):
            client.list_profile_fields("w-404")
    assert hostile.calls("POST /v1/cg") == 1
    assert hostile.calls("POST /v1/campaign/rerun/history") == 1


def test_rejected_static_token_raises_auth_error_without_any_login(hostile: HostileServer) -> None:
    hostile.route("POST /v1/cg", Reply(403, {"message": "jwt expired"}))
    with hostile_client(hostile) as client, pytest.raises(AuthError) as info:
        client.list_customer_groups("w1")
    assert client.config.token not in str(info.value)
    assert hostile.calls("POST /v1/auth") == 0 and hostile.calls("GET /v1/auth") == 0


def test_retry_after_http_date_is_honoured(hostile: HostileServer, sleeps: list[float]) -> None:
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2))
    hostile.route(
        "POST /v1/cg",
        Reply(429, {"message": "Too Many Requests"}, {"Retry-After": when}),
        Reply(200, []),
    )
    with hostile_client(hostile, retry_after_cap=5.0) as client:
        assert client.list_customer_groups("w1") == []
    # The date has one-second resolution: the wait is what is left of those ~2 s.
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 2.0


def test_retry_after_seconds_is_honoured_and_capped(
    hostile: HostileServer, sleeps: list[float]
) -> None:
    hostile.route(
        "POST /v1/cg",
        Reply(503, {"message": "Service Unavailable"}, {"Retry-After": "1"}),
        Reply(429, {"message": "slow down"}, {"Retry-After": "3600"}),
        Reply(200, []),
    )
    with hostile_client(hostile, retry_after_cap=0.4) as client:
        client.list_customer_groups("w1")
    assert sleeps == [0.4, 0.4]


def test_usage_limit_is_fatal_and_never_retried(hostile: HostileServer) -> None:
    hostile.route(PAGES, Reply(200, {"num_files": 0}))
    hostile.route(PUBLISH, Reply(429, {"message": "Usage limit exceeded."}))
    with hostile_client(hostile) as client, pytest.raises(QuotaExhaustedError) as info:
        ExportJob(client, "c1", "r1").run()
    assert "Usage limit exceeded." in str(info.value) and "quota" in str(info.value)
    assert hostile.calls(PUBLISH) == 1


def test_transient_errors_stop_after_the_attempt_budget(hostile: HostileServer) -> None:
    hostile.route(
        "POST /v1/cg", Reply(502, "<html>Bad Gateway</html>", {"Content-Type": "text/html"})
    )
    with hostile_client(hostile, max_attempts=3) as client, pytest.raises(TransientError) as info:
        client.list_customer_groups("w1")
    assert info.value.status == 502
    assert hostile.calls("POST /v1/cg") == 3


# --- models and pagination --------------------------------------------------------------


def test_keys_are_stripped_ids_become_strings_and_extra_fields_are_ignored(
    hostile: HostileServer,
) -> None:
    hostile.route(
        "POST /v1/cg",
        Reply(
            200,
            [
                {
                    "customer_group_id": 42,
                    " workspace_id": 7,
                    "group_name": "VIP",
                    "created_at\t": "2025-09-08T18:18:21.462Z",
                    "updated_at\t": "2025-09-08T18:18:21.462Z",
                    "brand_new_field": {"x": 1},
                }
            ],
        ),
    )
    hostile.route(
        "POST /v1/campaign/all",
        Reply(
            200,
            [
                {
                    "workspace_id": 1,
                    "workspace_name\t": "Main",
                    "campaigns": [
                        {
                            "campaign_id": 10,
                            "campaign_name": "Spring",
                            "stage": "Galactic",
                            "status": "weird",
                            "customer_group_id": 42,
                        }
                    ],
                }
            ],
        ),
    )
    with hostile_client(hostile) as client:
        (group,) = client.list_customer_groups("7")
        (campaign,) = client.list_campaigns()
    assert group.customer_group_id == "42" and group.workspace_id == "7"
    assert group.created_at == "2025-09-08T18:18:21.462Z"
    assert campaign.campaign_id == "10" and campaign.workspace_id == "1"
    assert campaign.workspace_name == "Main" and campaign.stage == "Galactic"


def customers_page(ids: list[str]) -> Reply:
    return Reply(200, [{"customer_id": i, "extended_profile": {}} for i in ids])


def test_customer_pages_stop_at_the_first_empty_page(hostile: HostileServer) -> None:
    hostile.route("POST /v1/customer/pages", Reply(200, {"pages": 5, "page_size": 2}))
    hostile.route(
        "POST /v1/customer", customers_page(["001", "002"]), customers_page(["003"]), Reply(200, [])
    )
    with hostile_client(hostile) as client:
        pages = list(client.iter_customer_pages("g1"))
    assert [(n, [c.customer_id for c in rows]) for n, rows in pages] == [
        (1, ["001", "002"]),
        (2, ["003"]),
    ]
    assert hostile.calls("POST /v1/customer") == 3
    assert [r.body["page"] for r in hostile.requests if r.path == "/v1/customer"] == [1, 2, 3]


def test_a_repeating_customer_page_fails_instead_of_spinning(hostile: HostileServer) -> None:
    hostile.route("POST /v1/customer/pages", Reply(200, {"pages": 1000, "total": 2000}))
    hostile.route("POST /v1/customer", customers_page(["1"]), customers_page(["2"]))
    with hostile_client(hostile) as client, pytest.raises(ContractViolationError, match="repeats"):
        list(client.iter_customer_pages("g1"))
    assert hostile.calls("POST /v1/customer") == 3


def test_customer_total_mismatch_is_reported(hostile: HostileServer) -> None:
    hostile.route("POST /v1/customer/pages", Reply(200, {"pages": 1, "total": 3}))
    hostile.route("POST /v1/customer", customers_page(["1", "2"]))
    with hostile_client(hostile) as client, pytest.raises(ContractViolationError, match="total"):
        list(client.iter_customer_pages("g1"))


def test_run_messages_loop_is_detected(hostile: HostileServer) -> None:
    page = {"messages": [{"customer_id": "1", "message": "hi"}], "pages": 9}
    hostile.route("POST /v1/campaign/rerun/messages", Reply(200, page))
    with hostile_client(hostile) as client, pytest.raises(ContractViolationError, match="repeats"):
        list(client.iter_run_messages("c1", "r1"))


# --- export job --------------------------------------------------------------------------


def test_failed_export_raises(hostile: HostileServer) -> None:
    hostile.route(
        PAGES,
        Reply(200, {"num_files": 0}),
        Reply(200, {"num_files": 0, "status": "processing", "job_id": "j1"}),
        Reply(200, {"num_files": 0, "status": "failed", "job_id": "j1"}),
    )
    hostile.route(PUBLISH, Reply(200, {"job_id": "j1", "status": "queued"}))
    with hostile_client(hostile) as client, pytest.raises(ExportFailedError, match="failed"):
        ExportJob(client, "c1", "r1").run()
    assert hostile.calls(PUBLISH) == 1


def test_export_deadline(hostile: HostileServer) -> None:
    hostile.route(PAGES, Reply(200, {"num_files": 0, "status": "processing", "job_id": "j1"}))
    with hostile_client(hostile) as client, pytest.raises(ExportTimeoutError):
        ExportJob(client, "c1", "r1", known_job_id="j1", deadline_seconds=1.0).run()
    assert hostile.calls(PUBLISH) == 0


def test_publish_with_unknown_outcome_adopts_the_job_the_server_shows(
    hostile: HostileServer,
) -> None:
    hostile.route(
        PAGES,
        Reply(200, {"num_files": 0}),  # before publishing: nothing
        Reply(200, {"num_files": 0, "status": "processing", "job_id": "j-lost"}),
        Reply(200, {"num_files": 2, "status": "completed", "job_id": "j-lost"}),
    )
    # The export was started, but the answer never made it back intact.
    hostile.route(PUBLISH, Reply(500, {"message": "Internal Server Error"}))
    announced: list[str] = []
    with hostile_client(hostile) as client:
        result = ExportJob(client, "c1", "r1", on_job_id=announced.append).run()
    assert hostile.calls(PUBLISH) == 1
    assert result.job_id == "j-lost" and result.num_files == 2 and announced == ["j-lost"]


def test_publish_body_cut_off_is_an_unknown_outcome_too(hostile: HostileServer) -> None:
    hostile.route(
        PAGES,
        Reply(200, {"num_files": 1, "status": "processing", "job_id": "j9"}),
    )
    hostile.route(PUBLISH, Reply(200, {"job_id": "j9", "status": "queued"}, cut_after=5))
    with hostile_client(hostile) as client:
        assert client.publish("c1", "r1") == "j9"
    assert hostile.calls(PUBLISH) == 1


def test_publish_is_repeated_only_when_the_server_shows_no_job(hostile: HostileServer) -> None:
    hostile.route(PAGES, Reply(200, {"num_files": 0}))
    hostile.route(PUBLISH, Reply(503, {"message": "busy"}), Reply(200, {"job_id": "j2"}))
    with hostile_client(hostile) as client:
        assert client.publish("c1", "r1") == "j2"
    assert hostile.calls(PUBLISH) == 2 and hostile.calls(PAGES) == 1


# --- downloads ---------------------------------------------------------------------------


def test_cut_body_is_fetched_again_and_the_consumer_restarts(hostile: HostileServer) -> None:
    csv_reply = Reply(200, CSV, {"Content-Type": "text/csv; charset=utf-8"})
    hostile.route(FETCH, Reply(200, CSV, {"Content-Type": "text/csv"}, cut_after=20), csv_reply)
    calls: list[int] = []

    def consume(stream: BinaryIO) -> str:
        calls.append(1)
        return sha(stream)

    with hostile_client(hostile) as client:
        digest = client.download_export_file("c1", "r1", 0, consume)
    assert digest == hashlib.sha256(CSV).hexdigest()
    assert len(calls) == 2 and hostile.calls(FETCH) == 2


def test_cut_body_is_never_returned_as_complete(hostile: HostileServer) -> None:
    hostile.route(FETCH, Reply(200, CSV, {"Content-Type": "text/csv"}, cut_after=20))
    with hostile_client(hostile, download_attempts=3) as client, pytest.raises(TransientError):
        client.download_export_file("c1", "r1", 0, sha)
    assert hostile.calls(FETCH) == 3


def test_html_instead_of_csv_is_a_contract_violation(hostile: HostileServer) -> None:
    hostile.route(FETCH, Reply(200, "<html>login</html>", {"Content-Type": "text/html"}))
    with (
        hostile_client(hostile, download_attempts=2) as client,
        pytest.raises(ContractViolationError),
    ):
        client.download_export_file("c1", "r1", 0, sha)


def url_reply(url: str, expires_in: int = 3600) -> Reply:
    return Reply(200, {"url": url, "expires_in": expires_in})


def test_expired_url_403_asks_fetch_for_a_new_one(hostile: HostileServer) -> None:
    hostile.route(
        FETCH,
        url_reply(f"{hostile.url}/files/a.csv?sig=old"),
        url_reply(f"{hostile.url}/files/a.csv?sig=new"),
    )
    hostile.route(
        "GET /files/a.csv",
        lambda seen: (
            Reply(200, CSV, {"Content-Type": "text/csv"})
            if seen.query == "sig=new"
            else Reply(
                403, "<Error>Request has expired</Error>", {"Content-Type": "application/xml"}
            )
        ),
    )
    with hostile_client(hostile) as client:
        digest = client.download_export_file("c1", "r1", 0, sha, export_type="url")
    assert digest == hashlib.sha256(CSV).hexdigest()
    assert hostile.calls(FETCH) == 2
    storage = [r for r in hostile.requests if r.path == "/files/a.csv"]
    assert [r.query for r in storage] == ["sig=old", "sig=new"]
    for request in storage:
        assert not {"authorization", "x-auth-context", "x-api-key"} & set(request.headers)


def test_storage_cut_reuses_a_valid_url(hostile: HostileServer) -> None:
    hostile.route(FETCH, url_reply(f"{hostile.url}/files/b.csv?sig=1"))
    hostile.route(
        "GET /files/b.csv",
        Reply(200, CSV, {"Content-Type": "text/csv"}, cut_after=10),
        Reply(200, CSV, {"Content-Type": "text/csv"}),
    )
    with hostile_client(hostile) as client:
        client.download_export_file("c1", "r1", 0, sha, export_type="url")
    assert hostile.calls(FETCH) == 1 and hostile.calls("GET /files/b.csv") == 2


def test_redirect_to_another_host_is_refused(hostile: HostileServer) -> None:
    port = hostile.url.rsplit(":", 1)[1]
    hostile.route(FETCH, url_reply(f"{hostile.url}/files/c.csv?sig=1"))
    hostile.route("GET /files/c.csv", Reply(302, b"", {"Location": f"http://localhost:{port}/x"}))
    with (
        hostile_client(hostile, download_hosts=("localhost",)) as client,
        pytest.raises(DownloadRefusedError, match="another host"),
    ):
        client.download_export_file("c1", "r1", 0, sha, export_type="url")
    assert hostile.calls("GET /x") == 0


def test_redirect_on_the_same_host_is_followed(hostile: HostileServer) -> None:
    hostile.route(FETCH, url_reply(f"{hostile.url}/files/d.csv?sig=1"))
    hostile.route("GET /files/d.csv", Reply(307, b"", {"Location": "/files/real.csv?sig=2"}))
    hostile.route("GET /files/real.csv", Reply(200, CSV, {"Content-Type": "text/csv"}))
    with hostile_client(hostile) as client:
        assert client.download_export_file("c1", "r1", 0, sha, export_type="url")


@pytest.mark.parametrize(
    "url",
    ["https://evil.example.com/a.csv", "http://files.example.com/a.csv", "file:///etc/passwd"],
)
def test_urls_outside_the_policy_are_never_fetched(hostile: HostileServer, url: str) -> None:
    hostile.route(FETCH, url_reply(url))
    with (
        hostile_client(hostile, download_hosts=("files.example.com",)) as client,
        pytest.raises(DownloadRefusedError),
    ):
        client.download_export_file("c1", "r1", 0, sha, export_type="url")


def test_json_export_is_refused_for_files(hostile: HostileServer) -> None:
    with hostile_client(hostile) as client, pytest.raises(ValueError, match="1000"):
        client.download_export_file("c1", "r1", 0, sha, export_type="json")
    assert hostile.requests == []


def test_pages_answers_are_read_leniently(hostile: HostileServer) -> None:
    hostile.route(
        PAGES,
        Reply(200, {"num_files": "0"}),
        Reply(200, {"status": "Processing", "job_id": 77}),
        Reply(200, {"num_files": "3", "status": "COMPLETED", "job_id": 77, "extra": True}),
    )
    hostile.route(PUBLISH, Reply(200, {"job_id": 77, "status": "queued"}))
    announced: list[str] = []
    with hostile_client(hostile) as client:
        result = ExportJob(client, "c1", "r1", on_job_id=announced.append).run()
    assert result.job_id == "77" and result.num_files == 3 and announced == ["77"]


def test_status_less_export_completes_by_settle_window(hostile: HostileServer) -> None:
    hostile.route(
        PAGES,
        Reply(200, {"num_files": 0}),  # before publishing
        Reply(200, {"num_files": 0}),
        Reply(200, {"num_files": 1}),
        Reply(200, {"num_files": 2}),  # still growing
        Reply(200, {"num_files": 2}),
    )
    hostile.route(PUBLISH, Reply(200, {"job_id": "j5", "status": "queued"}))
    with hostile_client(hostile, settle_seconds=0.3) as client:
        result = ExportJob(client, "c1", "r1").run()
    assert result.num_files == 2 and result.job_id == "j5"
    # It took an unchanged look after the last growth to call it complete.
    assert hostile.calls(PAGES) == 5


def test_url_with_fractional_expiry_is_accepted(hostile: HostileServer) -> None:
    hostile.route(FETCH, Reply(200, {"url": f"{hostile.url}/files/e.csv", "expires_in": 59.5}))
    hostile.route("GET /files/e.csv", Reply(200, CSV, {"Content-Type": "text/csv"}))
    with hostile_client(hostile) as client:
        assert client.download_export_file("c1", "r1", 0, sha, export_type="url")
