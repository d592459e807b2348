"""Export jobs: publish, pages, fetch (utf8 / json / url), storage, quota and error texts."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import requests

from nudge_pipeline.simulator import SimHandle
from tests.fixtures.waiting import wait_until
from tests.simulator.api import Api, error_of


@pytest.fixture(scope="module")
def exported(api: Api) -> list[tuple[str, str, int]]:
    """Every completed run of Published campaigns, exported once: (campaign, run, num_files)."""
    published = {c["campaign_id"] for c in api.campaigns() if c["stage"] == "Published"}
    done = []
    for campaign_id, run_id in api.completed_runs():
        if campaign_id in published:
            done.append(
                (campaign_id, run_id, api.publish_and_wait(campaign_id, run_id)["num_files"])
            )
    return done


def _rows(raw: bytes) -> tuple[list[str], list[list[str]]]:
    text = raw.decode("utf-8").removeprefix("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    return header, rows


def test_publish_pages_and_files_cover_every_message(
    api: Api, simulator: SimHandle, exported: list[tuple[str, str, int]]
) -> None:
    per_run = simulator.config.messages_per_run
    # Rows cycle through the group's customers, so each one is addressed.
    recipients = min(per_run, simulator.config.customers_per_group)
    for campaign_id, run_id, num_files in exported:
        assert num_files == -(-per_run // simulator.config.rows_per_file)
        ids: list[str] = []
        for file_num in range(num_files):
            response = api.fetch(campaign_id, run_id, file_num)
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/csv; charset=utf-8"
            header, rows = _rows(response.content)
            ids += [row[header.index("customer_id")] for row in rows]
        assert len(ids) == per_run
        assert len(set(ids)) == recipients


def test_csv_files_exercise_every_contract_rule(
    api: Api, exported: list[tuple[str, str, int]]
) -> None:
    boms, endings, headers, messages = set(), set(), set(), set()
    for campaign_id, run_id, num_files in exported:
        raw = b"".join(api.fetch(campaign_id, run_id, n).content for n in range(num_files))
        boms.add(raw.startswith(b"\xef\xbb\xbf"))
        endings.add("crlf" if raw.split(b"\n", 1)[0].endswith(b"\r") else "lf")
        for file_num in range(num_files):
            header, rows = _rows(api.fetch(campaign_id, run_id, file_num).content)
            headers.add(tuple(header))
            messages |= {row[header.index("message")] for row in rows}
            assert all(row[header.index("customer_id")].startswith("0") for row in rows)
    assert boms == {True, False}
    assert endings == {"crlf", "lf"}
    assert ("customer_id", "message") in headers and len(headers) > 1
    for literal in ("NA", "null", "None", "", "NULL", "N/A", "NaN"):
        assert literal in messages
    joined = "".join(messages)
    for needle in (",", '"', "\r\n", "🎉", "こんにちは", "Привет", "مرحبا"):
        assert needle in joined
    assert any("\n" in m and "\r\n" not in m for m in messages)


def test_pages_before_publish_and_after(make_simulator: Any) -> None:
    sim = make_simulator(export_duration=1.5, rows_per_file=5, messages_per_run=60)
    client = Api(sim)
    campaign = client.campaign("Published")
    run_id = client.runs(campaign["campaign_id"])[0]["run_id"]
    target = {"campaign_id": campaign["campaign_id"], "run_id": run_id}
    assert client.ok("/v1/messages/pages", target) == {"num_files": 0}
    published = client.ok("/v1/messages/publish", target)
    assert published["status"] == "queued" and published["job_id"]
    seen = []

    def completed() -> bool:
        pages = client.ok("/v1/messages/pages", target)
        assert pages["job_id"] == published["job_id"]
        seen.append(pages["num_files"])
        assert pages["status"] in ("processing", "completed")
        return bool(pages["status"] == "completed")

    wait_until(completed, timeout=30, message="the export to complete")
    assert seen == sorted(seen) and seen[-1] == 12
    assert len(set(seen)) > 2, "num_files grows while the job runs"
    fetch_past = client.fetch(campaign["campaign_id"], run_id, 12)
    assert error_of(fetch_past) == (404, "File not found.")


def test_pages_can_omit_status(make_simulator: Any) -> None:
    sim = make_simulator(pages_omit_status=True, export_duration=0)
    client = Api(sim)
    campaign = client.campaign("Published")
    run = client.runs(campaign["campaign_id"])[0]
    target = {"campaign_id": campaign["campaign_id"], "run_id": run["run_id"]}
    files = -(-run["message_count"] // sim.config.rows_per_file)
    client.ok("/v1/messages/publish", target)
    assert set(client.ok("/v1/messages/pages", target)) == {"num_files"}

    def every_file_shown() -> dict[str, Any] | None:
        pages: dict[str, Any] = client.ok("/v1/messages/pages", target)
        return pages if pages["num_files"] == files else None

    # Nor once the job is done and shows every file.
    assert set(wait_until(every_file_shown, message="every file of the export")) == {"num_files"}


def test_json_export_truncates_at_1000_rows(make_simulator: Any) -> None:
    client = Api(make_simulator(messages_per_run=1200, rows_per_file=1100, export_duration=0))
    campaign = client.campaign("Published")
    run_id = client.runs(campaign["campaign_id"])[0]["run_id"]
    client.publish_and_wait(campaign["campaign_id"], run_id)
    data = client.fetch(campaign["campaign_id"], run_id, 0, "json").json()["data"]
    assert len(data) == 1000
    assert all(set(row) == {"customer_id", "message"} for row in data)
    header, rows = _rows(client.fetch(campaign["campaign_id"], run_id, 0).content)
    assert len(rows) == 1100
    assert data[0]["message"] == rows[0][header.index("message")]


def test_url_export_served_by_storage_without_api_headers(
    api: Api, simulator: SimHandle, exported: list[tuple[str, str, int]]
) -> None:
    campaign_id, run_id, _ = exported[0]
    answer = api.fetch(campaign_id, run_id, 0, "url").json()
    assert set(answer) == {"url", "expires_in"}
    assert answer["expires_in"] == int(simulator.config.url_ttl)
    assert answer["url"].startswith(simulator.storage_url + "/")
    simulator.reset_stats()
    download = requests.get(answer["url"], timeout=30)
    assert download.status_code == 200
    assert download.content == api.fetch(campaign_id, run_id, 0).content
    stats = simulator.stats()
    assert stats["calls"]["GET /storage"] == 1
    assert stats["storage_auth_header_seen"] is False
    requests.get(answer["url"], headers={"authorization": "Bearer leak"}, timeout=30)
    assert simulator.stats()["storage_auth_header_seen"] is True
    simulator.reset_stats()
    tampered = answer["url"].replace("X-Expires=", "X-Expires=1")
    assert requests.get(tampered, timeout=30).status_code == 403


def test_expired_url_answers_403(make_simulator: Any) -> None:
    sim = make_simulator(url_ttl=-1, export_duration=0)
    client = Api(sim)
    campaign = client.campaign("Published")
    run_id = client.runs(campaign["campaign_id"])[0]["run_id"]
    client.publish_and_wait(campaign["campaign_id"], run_id)
    url = client.fetch(campaign["campaign_id"], run_id, 0, "url").json()["url"]
    assert requests.get(url, timeout=30).status_code == 403
    sim.configure(url_ttl=600)
    url = client.fetch(campaign["campaign_id"], run_id, 0, "url").json()["url"]
    assert requests.get(url, timeout=30).status_code == 200


def test_request_errors_and_texts(
    api: Api, other_api: Api, exported: list[tuple[str, str, int]]
) -> None:
    campaign_id, run_id, num_files = exported[0]
    draft = api.campaign("Draft")["campaign_id"]
    generating = api.campaign("Generating")
    running = next(r for r in api.runs(generating["campaign_id"]) if r["status"] != "completed")
    foreign = other_api.campaign("Published")["campaign_id"]
    cases = [
        (api.fetch(campaign_id, run_id, num_files), 404, "File not found."),
        (api.fetch(campaign_id, run_id, -1), 404, "File not found."),
        (api.fetch(campaign_id, run_id, 0, "xml"), 401, "Invalid export option."),
        (
            api.post("/v1/messages/fetch", {"campaign_id": campaign_id}),
            401,
            "Missing required fields.",
        ),
        (api.post("/v1/messages/publish", {}), 401, "Missing required fields."),
        (
            api.post("/v1/messages/pages", {"campaign_id": campaign_id}),
            401,
            "Missing required fields.",
        ),
        (
            api.post("/v1/messages/publish", {"campaign_id": draft}),
            401,
            "Campaign/details not found.",
        ),
        (
            api.post(
                "/v1/messages/publish",
                {"campaign_id": generating["campaign_id"], "run_id": running["run_id"]},
            ),
            401,
            "Campaign/details not found.",
        ),
        (api.post("/v1/messages/publish", {"campaign_id": foreign}), 401, "Campaign not found."),
        (api.fetch(foreign, run_id, 0), 401, "Campaign not found."),
        (
            api.post("/v1/messages/publish", {"campaign_id": "no-such-id"}),
            401,
            "Campaign not found.",
        ),
    ]
    for response, status, message in cases:
        assert error_of(response) == (status, message)
    malformed = api.http.post(
        f"{api.sim.base_url}/v1/messages/pages",
        data=b"[1, 2",
        headers=api.headers() | {"content-type": "application/json"},
    )
    assert error_of(malformed) == (400, "Malformed JSON")


def test_publish_without_run_id_uses_latest_completed_run(make_simulator: Any) -> None:
    client = Api(make_simulator(export_duration=0))
    campaign = client.campaign("Published")
    runs = client.runs(campaign["campaign_id"])
    job = client.ok("/v1/messages/publish", {"campaign_id": campaign["campaign_id"]})
    latest = {"campaign_id": campaign["campaign_id"], "run_id": runs[-1]["run_id"]}
    assert client.ok("/v1/messages/pages", latest)["job_id"] == job["job_id"]


def test_publish_moves_ready_to_publish_and_spends_quota(make_simulator: Any) -> None:
    sim = make_simulator(publish_quota=2, export_duration=0)
    client = Api(sim)
    ready = client.campaign("Ready to Publish")
    run_id = client.runs(ready["campaign_id"])[0]["run_id"]
    target = {"campaign_id": ready["campaign_id"], "run_id": run_id}
    client.ok("/v1/messages/publish", target)
    stages = {c["campaign_id"]: c["stage"] for c in client.campaigns()}
    assert stages[ready["campaign_id"]] == "Published"
    client.ok("/v1/messages/publish", target)  # a second publish of the same run spends again
    refused = client.post("/v1/messages/publish", target)
    assert error_of(refused) == (429, "Usage limit exceeded.")
    assert "retry-after" not in refused.headers
    stats = sim.stats()
    assert (stats["quota_used"], stats["quota_limit"]) == (2, 2)
    assert stats["calls"]["POST /v1/messages/publish"] == 3
    sim.configure(publish_quota=3)
    client.ok("/v1/messages/publish", target)


def test_publish_quota_is_per_account(make_simulator: Any) -> None:
    sim = make_simulator(publish_quota=1, export_duration=0)
    mine, theirs = Api(sim), Api(sim, sim.other_account)
    for client in (mine, theirs):
        campaign = client.campaign("Published")
        run_id = client.runs(campaign["campaign_id"])[0]["run_id"]
        target = {"campaign_id": campaign["campaign_id"], "run_id": run_id}
        client.ok("/v1/messages/publish", target)
        assert error_of(client.post("/v1/messages/publish", target)) == (
            429,
            "Usage limit exceeded.",
        )
    stats = sim.stats()
    assert stats["quota_used"] == 2
    assert stats["quota_used_by_account"] == {
        sim.account.account_id: 1,
        sim.other_account.account_id: 1,
    }


def test_fetch_schema_names_csv_and_its_errors(api: Api, simulator: SimHandle) -> None:
    schema = api.http.get(f"{simulator.base_url}/openapi.json", timeout=30).json()
    responses = schema["paths"]["/v1/messages/fetch"]["post"]["responses"]
    assert {"text/csv", "application/json"} <= set(responses["200"]["content"])
    assert {"401", "404", "500"} <= set(responses)


def test_admin_routes_add_and_delete(make_simulator: Any) -> None:
    sim = make_simulator(export_duration=0)
    client = Api(sim)
    campaign = client.campaign("Published")
    run = sim.add_run(campaign["campaign_id"], message_count=7)
    runs = client.runs(campaign["campaign_id"])
    assert runs[-1] == run and run["status"] == "completed" and run["message_count"] == 7
    pages = client.publish_and_wait(campaign["campaign_id"], run["run_id"])
    assert pages["num_files"] == 1
    sim.delete_campaign(campaign["campaign_id"])
    assert all(c["campaign_id"] != campaign["campaign_id"] for c in client.campaigns())
    gone = client.post("/v1/campaign/rerun/history", {"campaign_id": campaign["campaign_id"]})
    assert error_of(gone) == (401, "Campaign not found.")
