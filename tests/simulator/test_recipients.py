"""Whom a run's messages address: the campaign group's customers, unless told otherwise."""

import csv
import io
from typing import Any

import pytest

from tests.simulator.api import Api


def _group_customers(api: Api, group_id: str) -> set[str]:
    pages = api.ok("/v1/customer/pages", {"customer_group_id": group_id})["pages"]
    return {
        c["customer_id"]
        for page in range(1, pages + 1)
        for c in api.ok("/v1/customer", {"customer_group_id": group_id, "page": page})
    }


def _exported_recipients(api: Api, campaign_id: str, run_id: str) -> list[str]:
    pages = api.publish_and_wait(campaign_id, run_id)
    ids: list[str] = []
    for file_num in range(pages["num_files"]):
        response = api.fetch(campaign_id, run_id, file_num)
        assert response.status_code == 200
        text = response.content.decode("utf-8-sig")
        ids += [row["customer_id"] for row in csv.DictReader(io.StringIO(text, newline=""))]
    return ids


def _paged_recipients(api: Api, campaign_id: str, run_id: str) -> list[str]:
    target = {"campaign_id": campaign_id, "run_id": run_id}
    first = api.ok("/v1/campaign/rerun/messages", {**target, "page": 1})
    return [
        m["customer_id"]
        for page in range(1, first["pages"] + 1)
        for m in api.ok("/v1/campaign/rerun/messages", {**target, "page": page})["messages"]
    ]


@pytest.mark.parametrize("unknown", [False, True])
def test_messages_go_to_the_groups_customers_unless_unknown_ones_are_asked_for(
    make_simulator: Any, unknown: bool
) -> None:
    sim = make_simulator(
        messages_per_run=30, customers_per_group=12, messages_to_unknown_customers=unknown
    )
    api = Api(sim)
    campaign = api.campaign("Published")
    run_id = next(
        r["run_id"] for r in api.runs(campaign["campaign_id"]) if r["status"] == "completed"
    )
    known = _group_customers(api, campaign["customer_group_id"])
    assert len(known) == 12

    exported = _exported_recipients(api, campaign["campaign_id"], run_id)
    assert len(exported) == 30
    assert _paged_recipients(api, campaign["campaign_id"], run_id) == exported
    strangers = [c for c in exported if c not in known]
    if unknown:
        assert len(strangers) == 30 - 12
    else:
        assert not strangers and set(exported) == known
