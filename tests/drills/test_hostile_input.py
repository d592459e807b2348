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

from nudge_pipeline.simulator import SimHandle, run_simulator

from .hostile_world import WORLD, Partition, Pipeline, published_partitions
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


def csv_of(data: bytes) -> Answer:
    return Answer.csv(data)


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


@pytest.mark.parametrize(
    ("history", "words"),
    [
        pytest.param(Answer.html(), ("contract violation", HISTORY, "HTML"), id="html-200"),
        pytest.param(
            Answer.json([{"run_id": True, "status": "completed"}]),
            ("contract violation", HISTORY, "run.run_id must be a string or integer id"),
            id="wrong-type",
        ),
        pytest.param(
            Answer.json([{"status": "completed", "message_count": 30}]),
            ("contract violation", HISTORY, "run.run_id is missing"),
            id="missing-key",
        ),
    ],
)
def test_broken_run_history_fails_only_its_campaign(
    pipeline: Pipeline,
    proxy: TamperingProxy,
    runs: list[Partition],
    history: Answer,
    words: tuple[str, ...],
) -> None:
    victim, bystander = victim_and_bystander(runs)
    proxy.replace(HISTORY, history, campaign_id=victim.campaign_id)
    drill(pipeline, victim, bystander, *words)


# --- the files: CSV bodies of fetch ------------------------------------------------------

GOOD_HEAD = b"customer_id,message\r\n"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param(
            b"customer_id,text\r\n1,hello\r\n",
            ("unreadable export file", "file 1", "missing column(s) message"),
            id="no-message-column",
        ),
        pytest.param(
            GOOD_HEAD + b"1,hello\r\n2,hello,extra\r\n3,bye\r\n",
            ("unreadable export file", "file 1", "ragged row"),
            id="ragged-rows",
        ),
        pytest.param(
            GOOD_HEAD + b"1,caf\xe9 au lait\r\n",
            ("unreadable export file", "file 1", "invalid UTF-8"),
            id="invalid-utf8",
        ),
        pytest.param(
            b"",
            ("unreadable export file", "file 1", "no header row"),
            id="empty-body",
        ),
        pytest.param(
            GOOD_HEAD + b'1,"an open quote that never closes\r\n',
            ("unreadable export file", "file 1"),
            id="unclosed-quote",
        ),
    ],
)
def test_broken_csv_lands_nothing_of_its_run(
    pipeline: Pipeline,
    proxy: TamperingProxy,
    runs: list[Partition],
    body: bytes,
    words: tuple[str, ...],
) -> None:
    victim, bystander = victim_and_bystander(runs)
    proxy.replace(
        FETCH, Answer.csv(body), campaign_id=victim.campaign_id, run_id=victim.run_id, file_num=1
    )
    drill(pipeline, victim, bystander, *words)


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

    def one_more_file(upstream: Answer, _body: Any) -> Answer:
        data = upstream.data()
        return upstream.with_json({**data, "num_files": data["num_files"] + 1})

    proxy.tamper(PAGES, one_more_file, campaign_id=victim.campaign_id, run_id=victim.run_id)
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
