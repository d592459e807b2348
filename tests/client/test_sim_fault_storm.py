"""A whole sync's worth of calls under 25% faults, at DEBUG, checked for exactness and leaks."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest

from nudge_pipeline.nudgescribe import (
    ExportJob,
    NudgescribeError,
    RequestError,
    decrypt_profile,
    quirks,
)
from nudge_pipeline.nudgescribe import auth as auth_module

from .conftest import sim_client
from .test_sim_download import rows
from .test_sim_export import exportable_runs


def test_quarter_faults_everywhere_land_every_row_once_and_leak_nothing(
    make_simulator: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_simulator(
        token_ttl=3,
        fault_drop_rate=0.08,
        fault_429_rate=0.08,
        fault_5xx_rate=0.09,
        fault_cut_body_rate=0.25,
        retry_after_form="http-date",
    )
    tokens: list[str] = []
    obtain = auth_module.TokenManager._obtain

    def recording_obtain(self: Any, method: str, bearer: str | None) -> Any:
        token = obtain(self, method, bearer)
        tokens.append(token.value)
        return token

    monkeypatch.setattr(auth_module.TokenManager, "_obtain", recording_obtain)
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    secrets_seen_by_test: set[str] = set()

    with sim_client(sim, max_attempts=12, download_attempts=10, retry_after_cap=0.2) as client:
        runs = exportable_runs(client)
        for campaign_id, run_id in runs:
            result = ExportJob(client, campaign_id, run_id).run()
            landed: Counter[tuple[str, str]] = Counter()
            for n in range(result.num_files):
                export_type = "url" if n % 2 else "utf8"
                landed.update(
                    client.download_export_file(campaign_id, run_id, n, rows, export_type)
                )
            expected = Counter(
                (m.customer_id, m.message) for m in client.iter_run_messages(campaign_id, run_id)
            )
            assert landed == expected and sum(landed.values()) > 0

        for workspace in client.list_workspaces():
            for group in client.list_customer_groups(workspace.workspace_id):
                info = client.customer_page_info(group.customer_group_id)
                ids = [
                    customer.customer_id
                    for _, page in client.iter_customer_pages(group.customer_group_id)
                    for customer in page
                ]
                assert len(ids) == len(set(ids)) == info.total
                for _, page in client.iter_customer_pages(group.customer_group_id):
                    for customer in page:
                        for value in customer.extended_profile.values():
                            if quirks.ENCRYPTED_VALUE_PREFIX in str(value):
                                secrets_seen_by_test.add(str(value))
                        plain = decrypt_profile(customer.extended_profile, sim.account.profile_key)
                        secrets_seen_by_test.update(
                            str(v) for k, v in plain.items() if k in ("email", "phone")
                        )
                    break

        for bad in (
            lambda: client._transport.call("POST", quirks.EXPORT_PAGES_PATH, {"campaign_id": "x"}),
            lambda: client.list_runs("missing"),
        ):
            with pytest.raises(NudgescribeError) as info_:
                bad()
            errors.append(info_.value)

    stats = sim.stats()
    assert stats["quota_used"] == len(runs)
    assert sum(stats["faults_injected"].values()) >= 10
    assert len(tokens) >= 2  # refreshed during the storm
    assert any(isinstance(e, RequestError) for e in errors)

    leaks = {
        *tokens,
        sim.account.api_secret,
        sim.account.api_code,
        sim.account.profile_key,
        *secrets_seen_by_test,
    }
    texts = [caplog.text]
    texts += [record.getMessage() for record in caplog.records]
    texts += [f"{e!s} {e!r} {e.args!r}" for e in errors]
    assert len(caplog.records) > 20
    for text in texts:
        for leak in leaks:
            assert leak not in text
        assert "enc:v1:" not in text
