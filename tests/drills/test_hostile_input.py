"""Hostile and broken input, through the real assets.

Each drill spoils the answers for one victim partition and lands it together with a
bystander partition in one Dagster run. It asserts a clear error that names the thing at
fault, nothing of the victim in the lake or the warehouse (or exactly its old data), and
the bystander landed exactly (the messages of the paged JSON endpoint, row for row).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nudge_pipeline.landing import failures
from nudge_pipeline.landing.discovery import discover
from nudge_pipeline.nudgescribe import ConfigError
from nudge_pipeline.simulator import SimHandle, run_simulator
from tests.e2e.helpers import client_for

from .hostile_world import (
    WORLD,
    Partition,
    Pipeline,
    expected_rows,
    published_partitions,
)
from .scripted_server import Answer, TamperingProxy

PAGES = "POST /v1/messages/pages"
PUBLISH = "POST /v1/messages/publish"
FETCH = "POST /v1/messages/fetch"
HISTORY = "POST /v1/campaign/rerun/history"
CAMPAIGNS = "POST /v1/campaign/all"
AUTH = "POST /v1/auth"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with run_simulator(WORLD) as handle:
        yield handle


@pytest.fixture(scope="module")
def proxy(sim: SimHandle) -> Iterator[TamperingProxy]:
    with TamperingProxy(sim.base_url) as server:
        yield server


@pytest.fixture(scope="module")
def runs(sim: SimHandle) -> list[Partition]:
    found = published_partitions(sim)
    assert len(found) >= 8
    return found


@pytest.fixture
def pipeline(sim: SimHandle, proxy: TamperingProxy, tmp_path: Path) -> Iterator[Pipeline]:
    proxy.clear()
    defaults = sim.config
    yield Pipeline(sim, proxy, tmp_path)
    proxy.clear()
    sim.configure(
        token_ttl=defaults.token_ttl,
        publish_quota=None,
        latency_ms=0,
        url_ttl=defaults.url_ttl,
    )


def victim_and_bystander(runs: list[Partition]) -> tuple[Partition, Partition]:
    # Two runs of different campaigns, registered side by side.
    victim = runs[0]
    bystander = next(r for r in runs if r.campaign_id != victim.campaign_id)
    return victim, bystander


def drill(pipeline: Pipeline, victim: Partition, bystander: Partition, *words: str) -> str:
    """Land both; the victim fails naming `words`, leaves nothing; the bystander lands."""
    outcome = pipeline.land(victim, bystander)
    assert not outcome.result.success
    failure = outcome.failure(victim.key)
    for word in words:
        assert word in failure, f"{word!r} not in {failure!r}"
    assert bystander.key not in outcome.failures
    pipeline.assert_nothing_landed(victim)
    pipeline.assert_landed_exactly(bystander)
    return failure


# --- the export step: answers of messages/pages and publish ------------------------------


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        pytest.param(Answer.html(), ("contract violation", PAGES, "HTML"), id="html-200"),
        pytest.param(
            Answer(200, b'{"num_files": 3, "sta', {"content-type": "application/json"}),
            ("contract violation", PAGES, "not valid JSON"),
            id="truncated-json",
        ),
        pytest.param(
            Answer.json({"num_files": "three", "status": "completed"}),
            ("contract violation", PAGES, "num_files must be an integer"),
            id="wrong-type",
        ),
        pytest.param(
            Answer.json({"job": "x"}),
            ("contract violation", PAGES, "num_files is missing"),
            id="missing-key",
        ),
        pytest.param(
            Answer.json({"message": "Missing required fields."}, status=401),
            ("request rejected", PAGES, "Missing required fields."),
            id="401-missing-fields",
        ),
    ],
)
def test_broken_export_status(
    pipeline: Pipeline,
    proxy: TamperingProxy,
    runs: list[Partition],
    answer: Answer,
    words: tuple[str, ...],
) -> None:
    victim, bystander = victim_and_bystander(runs)
    proxy.replace(PAGES, answer, campaign_id=victim.campaign_id, run_id=victim.run_id)
    drill(pipeline, victim, bystander, *words)
    if answer.status == 401:
        # A request error is never retried, nor taken for an auth failure.
        assert proxy.calls(PAGES, campaign_id=victim.campaign_id) == 1


# --- discovery inside the export step: run history ---------------------------------------


def test_html_run_history_fails_only_its_campaign(
    pipeline: Pipeline, proxy: TamperingProxy, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)
    proxy.replace(HISTORY, Answer.html(), campaign_id=victim.campaign_id)
    drill(pipeline, victim, bystander, "contract violation", HISTORY, "HTML")


# --- the files: CSV bodies of fetch ------------------------------------------------------

GOOD_HEAD = b"customer_id,message\r\n"


# Each body breaks file 1 of the victim's export; the error names the file and what broke.
BROKEN_CSV = {
    "no-message-column": (b"customer_id,text\r\n1,hello\r\n", "missing column(s) message"),
    "ragged-rows": (GOOD_HEAD + b"1,hello\r\n2,hello,extra\r\n3,bye\r\n", "ragged row"),
    "invalid-utf8": (GOOD_HEAD + b"1,caf\xe9 au lait\r\n", "invalid UTF-8"),
    "unclosed-quote": (
        GOOD_HEAD + b'1,"an open quote that never closes\r\n',
        "a quote never closes",
    ),
}


@pytest.mark.parametrize(("body", "cause"), BROKEN_CSV.values(), ids=BROKEN_CSV.keys())
def test_broken_csv_lands_nothing_of_its_run(
    pipeline: Pipeline,
    proxy: TamperingProxy,
    runs: list[Partition],
    body: bytes,
    cause: str,
) -> None:
    victim, bystander = victim_and_bystander(runs)
    proxy.replace(
        FETCH, Answer.csv(body), campaign_id=victim.campaign_id, run_id=victim.run_id, file_num=1
    )
    drill(pipeline, victim, bystander, "unreadable export file", "file 1", cause)


def test_html_instead_of_csv(
    pipeline: Pipeline, proxy: TamperingProxy, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)
    proxy.replace(
        FETCH, Answer.html(), campaign_id=victim.campaign_id, run_id=victim.run_id, file_num=2
    )
    drill(pipeline, victim, bystander, "contract violation", FETCH, "file 2", "text/html")


def test_a_body_cut_every_time_fails_after_the_retry_budget(
    pipeline: Pipeline, proxy: TamperingProxy, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)
    proxy.tamper(
        FETCH,
        lambda upstream, _body: Answer(200, upstream.body, upstream.headers, cut_after=20),
        campaign_id=victim.campaign_id,
        run_id=victim.run_id,
        file_num=0,
    )
    drill(pipeline, victim, bystander, "API kept failing", FETCH, "file 0", "body cut off")
    assert proxy.calls(FETCH, campaign_id=victim.campaign_id, file_num=0) == 5


def test_num_files_shrinking_between_pages_and_fetch(
    pipeline: Pipeline, proxy: TamperingProxy, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)

    def one_more_file_once_complete(upstream: Answer, _body: Any) -> Answer:
        # While the export is processing, the files it announces are fetched as they come.
        pages = upstream.data()
        if pages.get("status") != "completed":
            return upstream
        return upstream.with_json({**pages, "num_files": pages["num_files"] + 1})

    proxy.tamper(
        PAGES, one_more_file_once_complete, campaign_id=victim.campaign_id, run_id=victim.run_id
    )
    files = (WORLD.messages_per_run + WORLD.rows_per_file - 1) // WORLD.rows_per_file
    drill(pipeline, victim, bystander, "not found", FETCH, f"file {files}", "File not found.")


def with_row(csv_bytes: bytes, customer_id: str, message: str) -> bytes:
    """The export file with one more row, its columns in the file's own header order."""
    head = csv_bytes.split(b"\n", 1)[0].removeprefix(b"\xef\xbb\xbf").rstrip(b"\r")
    columns = next(csv.reader([head.decode()]))
    values = {"customer_id": customer_id, "message": message}
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerow([values.get(c, "x") for c in columns])
    return csv_bytes.rstrip(b"\r\n") + b"\r\n" + out.getvalue().encode()


def test_a_ten_megabyte_message_lands_exactly(
    pipeline: Pipeline, proxy: TamperingProxy, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)
    huge = "Dear customer, " + '🙂, "quoted"\r\nand more ' * 400_000
    assert len(huge.encode()) > 10_000_000
    proxy.tamper(
        FETCH,
        lambda upstream, _body: Answer.csv(with_row(upstream.body, "0099", huge)),
        campaign_id=victim.campaign_id,
        run_id=victim.run_id,
        file_num=1,
    )
    outcome = pipeline.land(victim, bystander)
    assert outcome.result.success, outcome.failures
    expected = victim.expected + Counter({("0099", huge): 1})
    assert pipeline.warehouse_rows(victim.campaign_id, victim.run_id) == expected
    assert pipeline.lake_rows(victim.campaign_id, victim.run_id) == expected
    pipeline.assert_landed_exactly(bystander)


# --- pre-signed URLs (NUDGESCRIBE_EXPORT_TYPE=url) ---------------------------------------


@pytest.mark.parametrize(
    ("url", "hosts", "words"),
    [
        pytest.param(
            "https://storage.evil.example/part-1.csv?X-Signature=abc",
            "",
            ("host storage.evil.example is not on the download allow-list",),
            id="off-allow-list",
        ),
        pytest.param(
            "https://10.0.0.7/part-1.csv",
            "*.0.0.7",
            ("10.0.0.7 resolves to a private address",),
            id="wildcard-to-private-address",
        ),
        pytest.param(
            "http://storage.example.com/part-1.csv",
            "storage.example.com",
            ("plain http to storage.example.com",),
            id="http-off-loopback",
        ),
    ],
)
def test_a_presigned_url_outside_the_policy_is_never_fetched(
    pipeline: Pipeline,
    proxy: TamperingProxy,
    sim: SimHandle,
    runs: list[Partition],
    url: str,
    hosts: str,
    words: tuple[str, ...],
) -> None:
    victim, bystander = victim_and_bystander(runs)
    pipeline.nudgescribe = {"export_type": "url", "download_hosts": hosts}
    proxy.replace(
        FETCH,
        Answer.json({"url": url, "expires_in": 600}),
        campaign_id=victim.campaign_id,
        run_id=victim.run_id,
        file_num=1,
    )
    drill(pipeline, victim, bystander, "request rejected", "export file 1", *words)
    assert not sim.stats()["storage_auth_header_seen"]


def test_a_redirect_to_another_host_is_refused(
    pipeline: Pipeline, proxy: TamperingProxy, sim: SimHandle, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)
    pipeline.nudgescribe = {"export_type": "url"}
    proxy.replace(
        FETCH,
        Answer.json({"url": f"{proxy.url}/files/part-1.csv?sig=1", "expires_in": 600}),
        campaign_id=victim.campaign_id,
        run_id=victim.run_id,
        file_num=1,
    )
    elsewhere = f"http://localhost:{proxy.port}/files/part-1.csv"
    proxy.replace("GET /files/part-1.csv", Answer(302, b"", {"location": elsewhere}))
    drill(
        pipeline, victim, bystander, "request rejected", "export file 1", "redirect to another host"
    )
    assert proxy.calls("GET /files/part-1.csv") == 1
    assert not sim.stats()["storage_auth_header_seen"]


def test_plain_http_to_a_remote_api_host_is_refused_before_any_request(
    pipeline: Pipeline,
) -> None:
    pipeline.nudgescribe = {"base_url": "http://client-api.nudgescribe.example"}
    with (
        pytest.raises(ConfigError, match="base_url http://client-api.nudgescribe.example is plain"),
        pipeline.client(),
    ):
        pass
    # `sync` stops on it at discovery, with one "bad configuration" line.
    assert failures.cause_of(ConfigError("x")) in failures.GLOBAL_CAUSES


# --- tokens ------------------------------------------------------------------------------


def test_a_token_expiring_mid_download_is_renewed_and_the_run_lands(
    pipeline: Pipeline, proxy: TamperingProxy, sim: SimHandle, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)
    # One download at a time: the next file's fetch comes after the token expired.
    pipeline.nudgescribe = {"parallel_downloads": 1}
    sim.configure(token_ttl=2)
    proxy.tamper(
        FETCH,
        lambda upstream, _body: Answer(200, upstream.body, upstream.headers, pause_after=(64, 2.5)),
        campaign_id=victim.campaign_id,
        run_id=victim.run_id,
        file_num=0,
    )
    outcome = pipeline.land(victim, bystander)
    assert outcome.result.success, outcome.failures
    pipeline.assert_landed_exactly(victim)
    pipeline.assert_landed_exactly(bystander)
    assert proxy.calls("GET /v1/auth") >= 1, "the token was renewed"
    # Renewed before it was used stale: file 1 is fetched once, with another token than file 0.
    victim_run = {"campaign_id": victim.campaign_id, "run_id": victim.run_id}
    assert proxy.calls(FETCH, **victim_run, file_num=1) == 1
    tokens = {
        r.body["file_num"]: r.headers.get("authorization")
        for r in proxy.requests
        if f"{r.method} {r.path}" == FETCH
        and all(r.body.get(k) == v for k, v in victim_run.items())
    }
    assert tokens[0] != tokens[1]


def test_a_token_rejected_as_expired_logs_in_once_and_the_run_lands(
    pipeline: Pipeline, proxy: TamperingProxy, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)
    proxy.replace(
        FETCH,
        Answer.json({"message": "jwt expired"}, status=403),
        campaign_id=victim.campaign_id,
        run_id=victim.run_id,
        file_num=2,
    ).times = 1
    outcome = pipeline.land(victim, bystander)
    assert outcome.result.success, outcome.failures
    pipeline.assert_landed_exactly(victim)
    pipeline.assert_landed_exactly(bystander)
    assert proxy.calls(FETCH, campaign_id=victim.campaign_id, file_num=2) == 2


# --- publish and quota -------------------------------------------------------------------


def new_run(sim: SimHandle, campaign_id: str) -> Partition:
    run = sim.add_run(campaign_id, message_count=20)
    return Partition(campaign_id, run["run_id"], expected_rows(sim, campaign_id, run["run_id"]))


def test_quota_exhausted_fails_clearly_without_a_retry_loop(
    pipeline: Pipeline, proxy: TamperingProxy, sim: SimHandle, runs: list[Partition]
) -> None:
    _, bystander = victim_and_bystander(runs)
    victim = new_run(sim, runs[0].campaign_id)
    # The bystander's export made before the quota runs out, whichever drills ran before.
    assert pipeline.land(bystander).result.success
    sim.configure(publish_quota=sim.stats()["quota_used"])
    failure = drill(pipeline, victim, bystander, "quota exhausted", PUBLISH, "Usage limit exceeded")
    assert "quota" in failure.split(":", 1)[1]
    assert proxy.calls(PUBLISH, campaign_id=victim.campaign_id, run_id=victim.run_id) == 1


def test_a_garbled_publish_answer_adopts_the_job_instead_of_publishing_again(
    pipeline: Pipeline, proxy: TamperingProxy, sim: SimHandle, runs: list[Partition]
) -> None:
    _, bystander = victim_and_bystander(runs)
    victim = new_run(sim, runs[0].campaign_id)
    proxy.tamper(
        PUBLISH,
        lambda upstream, _body: Answer(200, upstream.body[:9], upstream.headers),
        campaign_id=victim.campaign_id,
    )
    outcome = pipeline.land(victim, bystander)
    assert outcome.result.success, outcome.failures
    pipeline.assert_landed_exactly(victim)
    pipeline.assert_landed_exactly(bystander)
    assert proxy.calls(PUBLISH, campaign_id=victim.campaign_id) == 1


# --- campaigns that change under the pipeline ----------------------------------------------


def test_a_campaign_deleted_after_discovery_is_skipped_by_name(
    pipeline: Pipeline, sim: SimHandle, runs: list[Partition]
) -> None:
    # The last campaign is this drill's own: no other drill uses it.
    victim = runs[-1]
    bystander = next(r for r in runs if r.campaign_id != victim.campaign_id)
    sim.delete_campaign(victim.campaign_id)
    outcome = pipeline.land(victim, bystander)
    assert victim.key not in outcome.failures and bystander.key not in outcome.failures
    skipped = export_observation(outcome, victim.key)
    assert skipped["load_status"] == "skipped"
    assert f"campaign {victim.campaign_id} no longer exists" in skipped["reason"]
    assert victim.key not in {
        e.materialization.partition for e in outcome.result.get_asset_materialization_events()
    }
    pipeline.assert_nothing_landed(victim)
    pipeline.assert_landed_exactly(bystander)


def export_observation(outcome: Any, key: str) -> dict[str, Any]:
    for event in outcome.result.all_events:
        if event.event_type_value != "ASSET_OBSERVATION":
            continue
        seen = event.asset_observation_data.asset_observation
        if seen.asset_key.to_user_string() == "message_export" and seen.partition == key:
            return {k: getattr(v, "value", v) for k, v in seen.metadata.items()}
    raise AssertionError(f"no message_export observation for {key}")


def duplicate_campaign(campaign_id: str, **changes: str) -> Any:
    def rewrite(upstream: Answer, _body: Any) -> Answer:
        workspaces = upstream.data()
        for workspace in workspaces:
            for campaign in list(workspace["campaigns"]):
                if campaign["campaign_id"] == campaign_id:
                    workspace["campaigns"].append({**campaign, **changes})
        return upstream.with_json(workspaces)

    return rewrite


def test_a_campaign_listed_twice_alike_lands_once(
    pipeline: Pipeline, proxy: TamperingProxy, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)
    proxy.tamper(CAMPAIGNS, duplicate_campaign(victim.campaign_id))
    outcome = pipeline.land(victim, bystander)
    assert outcome.result.success, outcome.failures
    pipeline.assert_landed_exactly(victim)
    pipeline.assert_landed_exactly(bystander)


def test_a_campaign_listed_twice_with_different_details_is_refused(
    pipeline: Pipeline, proxy: TamperingProxy, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)
    assert pipeline.land(bystander).result.success
    proxy.tamper(CAMPAIGNS, duplicate_campaign(victim.campaign_id, stage="Draft"))
    outcome = pipeline.land(victim, bystander)
    failure = outcome.failure(victim.key)
    assert "contract violation" in failure and CAMPAIGNS in failure
    assert f"campaign {victim.campaign_id} is listed twice with different details" in failure
    pipeline.assert_nothing_landed(victim)
    # Nothing can be trusted from that listing: the landed bystander keeps exactly its rows.
    pipeline.assert_landed_exactly(bystander)


# --- ids ---------------------------------------------------------------------------------

HOSTILE_IDS = [
    pytest.param("run_id", "a/b/../../c", id="run-slashes-and-dots"),
    pytest.param("run_id", "r" * 1000, id="run-1000-characters"),
    pytest.param("campaign_id", "../../etc/passwd", id="campaign-path-escape"),
]


@pytest.mark.parametrize(("field_name", "hostile"), HOSTILE_IDS)
def test_hostile_ids_land_exactly_inside_the_lake(
    pipeline: Pipeline,
    proxy: TamperingProxy,
    runs: list[Partition],
    field_name: str,
    hostile: str,
) -> None:
    real, bystander = victim_and_bystander(runs)
    proxy.alias(field_name, hostile, getattr(real, field_name))
    victim = Partition(
        hostile if field_name == "campaign_id" else real.campaign_id,
        hostile if field_name == "run_id" else real.run_id,
        real.expected,
    )
    outcome = pipeline.land(victim, bystander)
    assert outcome.result.success, outcome.failures
    pipeline.assert_landed_exactly(victim)
    pipeline.assert_landed_exactly(bystander)
    lake = pipeline.lake_root.resolve()
    files = pipeline.lake_files(victim.campaign_id, victim.run_id)
    assert files and all(lake in f.resolve().parents for f in files)
    assert all(len(part.encode()) <= 255 for f in files for part in f.parts)


@pytest.mark.parametrize(
    ("hostile", "named"),
    [pytest.param("r~1", "'~'", id="tilde"), pytest.param("bad\x00id", "'\\x00'", id="nul")],
)
def test_ids_that_cannot_be_partition_keys_are_refused_by_name(
    pipeline: Pipeline,
    proxy: TamperingProxy,
    runs: list[Partition],
    hostile: str,
    named: str,
) -> None:
    real, _ = victim_and_bystander(runs)
    sibling = next(r for r in runs if r.campaign_id == real.campaign_id and r != real)
    proxy.alias("run_id", hostile, real.run_id)
    with pipeline.client() as client:
        found = discover(client, ("Published",), [real.campaign_id])
    [rejected] = found.rejected_runs
    assert rejected.run.run_id == hostile
    assert (
        rejected.key_error and repr(hostile) in rejected.key_error and named in rejected.key_error
    )
    # The campaign's other runs are still discovered, and land.
    assert sibling.key in found.run_partition_keys
    assert not [k for k in found.run_partition_keys if hostile in k]
    assert pipeline.land(sibling).result.success
    pipeline.assert_landed_exactly(sibling)
    assert pipeline.lake_files(real.campaign_id, hostile) == []
    assert pipeline.warehouse_rows(real.campaign_id, hostile) == Counter()


# --- customers ---------------------------------------------------------------------------

CUSTOMER_PAGES = "POST /v1/customer/pages"
CUSTOMERS = "POST /v1/customer"


@pytest.fixture(scope="module")
def groups(sim: SimHandle) -> list[str]:
    with client_for(sim) as client:
        spaces = sorted({c.workspace_id for c in client.list_campaigns()})
        return [g.customer_group_id for w in spaces for g in client.list_customer_groups(w)]


def test_a_customer_total_that_disagrees_with_the_pages_keeps_the_old_data(
    pipeline: Pipeline, proxy: TamperingProxy, groups: list[str]
) -> None:
    victim, bystander = groups[0], groups[1]
    assert pipeline.land_customers(victim, bystander).result.success
    before = {g: (pipeline.customer_files(g), pipeline.customer_rows(g)) for g in groups[:2]}
    assert all(files and rows for files, rows in before.values())

    def one_more(upstream: Answer, _body: Any) -> Answer:
        data = upstream.data()
        return upstream.with_json({**data, "total": data["total"] + 1})

    proxy.tamper(CUSTOMER_PAGES, one_more, customer_group_id=victim)
    outcome = pipeline.land_customers(victim, bystander)
    failure = outcome.failure(victim)
    customers = WORLD.customers_per_group
    assert "contract violation" in failure and CUSTOMERS in failure
    assert f"customer group {victim}: read {customers} customers, server total is" in failure
    assert bystander not in outcome.failures
    after = {g: (pipeline.customer_files(g), pipeline.customer_rows(g)) for g in groups[:2]}
    assert after == before


def test_a_customer_page_with_a_wrong_type_lands_nothing_of_its_group(
    pipeline: Pipeline, proxy: TamperingProxy, groups: list[str]
) -> None:
    victim, bystander = groups[0], groups[1]

    def profile_as_number(upstream: Answer, _body: Any) -> Answer:
        rows = upstream.data()
        rows[0]["extended_profile"] = 42
        return upstream.with_json(rows)

    proxy.tamper(CUSTOMERS, profile_as_number, customer_group_id=victim, page=2)
    outcome = pipeline.land_customers(victim, bystander)
    failure = outcome.failure(victim)
    assert "contract violation" in failure and CUSTOMERS in failure
    assert "customer.extended_profile must be an object, got int" in failure
    assert pipeline.customer_files(victim) == {} and pipeline.customer_rows(victim) == []
    assert bystander not in outcome.failures
    assert len(pipeline.customer_rows(bystander)) == WORLD.customers_per_group


def test_a_row_the_api_counted_but_the_export_lacks_fails_the_reconciliation(
    pipeline: Pipeline, proxy: TamperingProxy, runs: list[Partition]
) -> None:
    victim, bystander = victim_and_bystander(runs)

    def one_more_message(upstream: Answer, _body: Any) -> Answer:
        extra = {victim.run_id: 1}
        return upstream.with_json(
            [
                {**run, "message_count": run["message_count"] + extra.get(run["run_id"], 0)}
                for run in upstream.data()
            ]
        )

    proxy.tamper(HISTORY, one_more_message, campaign_id=victim.campaign_id)
    outcome = pipeline.land(victim, bystander)
    checks = {c.check_name: c for c in outcome.result.get_asset_check_evaluations()}
    reconcile = checks["rows_reconcile_api_csv_parquet_table"]
    assert not reconcile.passed
    mismatched = reconcile.metadata["mismatched"].value
    assert set(mismatched) == {victim.key}
    counts = mismatched[victim.key]
    rows = sum(victim.expected.values())
    assert counts == {
        "csv_rows": rows,
        "parquet_rows": rows,
        "table_rows": rows,
        "api_message_count": rows + 1,
    }
