"""Pagination and models against the simulator."""

from __future__ import annotations

from typing import Any

from nudge_pipeline.nudgescribe import decrypt_profile

from .conftest import calls, sim_client
from .test_sim_export import exportable_runs


def test_customer_pages_cover_the_group_exactly(simulator: Any) -> None:
    with sim_client(simulator) as client:
        workspace = client.list_workspaces()[0]
        group = client.list_customer_groups(workspace.workspace_id)[0]
        info = client.customer_page_info(group.customer_group_id)
        simulator.reset_stats()
        pages = list(client.iter_customer_pages(group.customer_group_id))
    assert [n for n, _ in pages] == list(range(1, info.pages + 1))
    ids = [c.customer_id for _, page in pages for c in page]
    assert len(ids) == len(set(ids)) == info.total
    assert all(isinstance(i, str) for i in ids) and any(i.startswith("0") for i in ids)
    # pages (1 call) + one call per page, nothing past N.
    stats = simulator.stats()
    assert calls(stats, "POST /v1/customer") == info.pages
    assert calls(stats, "POST /v1/customer/pages") == 1


def test_customers_without_a_total_still_page_to_the_end(make_simulator: Any) -> None:
    sim = make_simulator(customer_pages_omit_total=True)
    with sim_client(sim) as client:
        workspace = client.list_workspaces()[0]
        group = client.list_customer_groups(workspace.workspace_id)[0]
        info = client.customer_page_info(group.customer_group_id)
        customers = [
            c for _, page in client.iter_customer_pages(group.customer_group_id) for c in page
        ]
    assert info.total is None
    assert len(customers) == sim.config.customers_per_group


def test_profiles_decrypt_with_the_account_key(simulator: Any) -> None:
    with sim_client(simulator) as client:
        workspace = client.list_workspaces()[0]
        fields = {f.field_name for f in client.list_profile_fields(workspace.workspace_id)}
        group = client.list_customer_groups(workspace.workspace_id)[0]
        _, page = next(client.iter_customer_pages(group.customer_group_id))
    encrypted = [
        c for c in page if any(str(v).startswith("enc:v1:") for v in c.extended_profile.values())
    ]
    assert encrypted
    plain = decrypt_profile(encrypted[0].extended_profile, simulator.account.profile_key)
    assert not any(str(v).startswith("enc:v1:") for v in plain.values())
    assert set(plain) <= fields | set(encrypted[0].extended_profile)
    assert "enc:v1:" not in repr(encrypted[0])


def test_run_messages_page_through_the_whole_run(simulator: Any) -> None:
    with sim_client(simulator) as client:
        campaign_id, run_id = exportable_runs(client)[0]
        run = next(r for r in client.list_runs(campaign_id) if r.run_id == run_id)
        messages = list(client.iter_run_messages(campaign_id, run_id))
    assert len(messages) == run.message_count
    # No page repeated or skipped: every (customer, message) pair appears once.
    assert len({(m.customer_id, m.message) for m in messages}) == len(messages)
