"""Campaigns, runs, customer groups, customers and profile fields."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet

from nudge_pipeline.simulator import SimConfig, SimHandle, run_simulator
from tests.fixtures.waiting import wait_until
from tests.simulator.api import Api

STAGES = {"Draft", "Generating", "Ready to Publish", "Published"}


def test_campaigns_grouped_by_workspace(api: Api, simulator: SimHandle) -> None:
    workspaces = api.ok("/v1/campaign/all")
    assert len(workspaces) == simulator.config.workspaces
    for ws in workspaces:
        assert set(ws) == {"workspace_id", "workspace_name", "campaigns"}
        assert {c["stage"] for c in ws["campaigns"]} == STAGES
        for c in ws["campaigns"]:
            assert c["workspace_id"] == ws["workspace_id"]
            assert set(c) == {
                "campaign_id", "campaign_name", "workspace_id", "customer_group_id", "status",
                "stage", "start_date", "end_date", "created_at", "updated_at",
            }  # fmt: skip
            assert isinstance(c["campaign_id"], str)


def test_run_history_statuses_by_stage(api: Api, simulator: SimHandle) -> None:
    n = simulator.config.runs_per_campaign
    for campaign in api.campaigns():
        runs = api.runs(campaign["campaign_id"])
        if campaign["stage"] == "Draft":
            assert runs == []
            continue
        assert [r["run_number"] for r in runs] == list(range(1, n + 1))
        statuses = [r["status"] for r in runs]
        if campaign["stage"] == "Generating":
            assert statuses[-1] == "running"
        else:
            assert set(statuses) == {"completed"}
            assert all(r["message_count"] == simulator.config.messages_per_run for r in runs)


def test_run_messages_pages(api: Api, simulator: SimHandle) -> None:
    campaign_id, run_id = api.completed_runs()[0]
    first = api.ok(
        "/v1/campaign/rerun/messages", {"campaign_id": campaign_id, "run_id": run_id, "page": 1}
    )
    size = simulator.config.page_size
    assert first["page"] == 1
    assert first["pages"] == -(-simulator.config.messages_per_run // size)
    collected = []
    for page in range(1, first["pages"] + 2):
        body = {"campaign_id": campaign_id, "run_id": run_id, "page": page}
        collected += api.ok("/v1/campaign/rerun/messages", body)["messages"]
    assert len(collected) == simulator.config.messages_per_run
    assert all(set(m) == {"customer_id", "message"} for m in collected)
    # Every page is distinct (no page repeated), and rows cycle through the group's customers.
    assert len({(m["customer_id"], m["message"]) for m in collected}) == len(collected)
    recipients = min(simulator.config.messages_per_run, simulator.config.customers_per_group)
    assert len({m["customer_id"] for m in collected}) == recipients


def test_rerun_starts_queued_and_completes(make_simulator: Any) -> None:
    sim = make_simulator(rerun_duration=0.4)
    client = Api(sim)
    campaign = client.campaign("Published")
    started = client.ok("/v1/campaign/rerun", {"campaign_id": campaign["campaign_id"]})
    assert started["status"] == "queued"
    runs = client.runs(campaign["campaign_id"])
    assert runs[-1]["run_id"] == started["run_id"]
    assert runs[-1]["run_number"] == len(runs)
    wait_until(
        lambda: client.runs(campaign["campaign_id"])[-1]["status"] == "completed",
        timeout=20,
        interval=0.1,
        message="the rerun to complete",
    )
    assert client.runs(campaign["campaign_id"])[-1]["message_count"] == sim.config.messages_per_run


def test_customer_group_crud_and_trailing_tab_keys(api: Api) -> None:
    ws = api.ok("/v1/campaign/all")[0]["workspace_id"]
    groups = api.ok("/v1/cg", {"workspace_id": ws})
    assert groups and all(
        set(g) == {
            "customer_group_id", "account_id", "workspace_id", "group_name", "created_at",
            "updated_at", "created_by", "updated_by",
        }
        for g in groups
    )  # fmt: skip
    created = api.ok("/v1/cg", {"workspace_id": ws, "group_name": "VIP"}, method="PUT")
    gid = created["customer_group_id"]
    updated = api.ok(
        "/v1/cg",
        {"workspace_id": ws, "customer_group_id": gid, "group_name": "VIP+"},
        method="PATCH",
    )
    assert "created_at\t" in updated and "updated_at\t" in updated
    assert updated["group_name"] == "VIP+"
    assert any(g["group_name"] == "VIP+" for g in api.ok("/v1/cg", {"workspace_id": ws}))
    deleted = api.ok("/v1/cg", {"workspace_id": ws, "customer_group_id": gid}, method="DELETE")
    assert "message" in deleted
    assert all(g["customer_group_id"] != gid for g in api.ok("/v1/cg", {"workspace_id": ws}))
    missing = api.call("PATCH", "/v1/cg", {"workspace_id": ws, "customer_group_id": gid})
    assert (missing.status_code, missing.json()["message"]) == (401, "Missing required fields.")


def test_customers_pages_profiles_and_leading_zeros(api: Api, simulator: SimHandle) -> None:
    ws = api.ok("/v1/campaign/all")[0]["workspace_id"]
    group = api.ok("/v1/cg", {"workspace_id": ws})[0]
    gid = group["customer_group_id"]
    info = api.ok("/v1/customer/pages", {"customer_group_id": gid})
    assert info == {
        "pages": -(-simulator.config.customers_per_group // simulator.config.page_size),
        "page_size": simulator.config.page_size,
        "total": simulator.config.customers_per_group,
    }
    customers = []
    for page in range(1, info["pages"] + 1):
        customers += api.ok("/v1/customer", {"customer_group_id": gid, "page": page})
    assert api.ok("/v1/customer", {"customer_group_id": gid, "page": info["pages"] + 1}) == []
    assert len(customers) == info["total"]
    assert all(c["customer_id"].startswith("0") for c in customers)
    fernet = Fernet(simulator.account.profile_key)
    encrypted = plain = 0
    for customer in customers:
        for value in customer["extended_profile"].values():
            if isinstance(value, str) and value.startswith("enc:v1:"):
                assert fernet.decrypt(value.removeprefix("enc:v1:")).decode()
                encrypted += 1
            else:
                plain += 1
    assert encrypted and plain


def test_customer_pages_total_can_be_omitted(make_simulator: Any) -> None:
    client = Api(make_simulator(customer_pages_omit_total=True))
    ws = client.ok("/v1/campaign/all")[0]["workspace_id"]
    gid = client.ok("/v1/cg", {"workspace_id": ws})[0]["customer_group_id"]
    assert "total" not in client.ok("/v1/customer/pages", {"customer_group_id": gid})


def test_profile_fields_include_an_undocumented_type(api: Api) -> None:
    ws = api.ok("/v1/campaign/all")[0]["workspace_id"]
    fields = api.ok("/v1/fields", {"workspace_id": ws})
    types = {f["field_type"] for f in fields}
    assert {"string", "number", "boolean", "date"} <= types
    assert types - {"string", "number", "boolean", "date"}
    assert all(f["workspace_id"] == ws for f in fields)


def test_same_seed_same_world(api: Api, simulator: SimHandle) -> None:
    with run_simulator(SimConfig()) as twin:
        twin_api = Api(twin)
        assert twin_api.ok("/v1/campaign/all") == api.ok("/v1/campaign/all")
        ws = api.ok("/v1/campaign/all")[0]["workspace_id"]
        gid = api.ok("/v1/cg", {"workspace_id": ws})[0]["customer_group_id"]
        body = {"customer_group_id": gid, "page": 1}
        assert twin_api.ok("/v1/customer", body) == api.ok("/v1/customer", body)
        assert twin.account == simulator.account
    with run_simulator(SimConfig(seed=8)) as other:
        assert other.account.account_id != simulator.account.account_id
