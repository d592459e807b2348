"""Claims on campaign runs: lifecycle, takeover and races, on a local folder and on S3 (moto)."""

from __future__ import annotations

import json
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from nudge_pipeline.lake import Lake, claim_path, export_state_path
from nudge_pipeline.landing.claim import Claim, ClaimLostError, ClaimStore, new_holder
from nudge_pipeline.landing.record import RunRecord, RunRecordStore

LEASE = 60.0
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path) -> Lake:
    if request.param == "local":
        return Lake(tmp_path / "lake")
    return request.getfixturevalue("s3_lake")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _store(lake: Lake, clock: Callable[[], float] = time.time) -> ClaimStore:
    return ClaimStore(lake, lease_seconds=LEASE, clock=clock)


def test_acquire_renew_release(lake: Lake, clock: FakeClock) -> None:
    store = _store(lake, clock)
    assert store.current("c/1", "r 1") is None

    claim = store.acquire("c/1", "r 1", "host-a:11:aa")
    assert claim is not None
    assert (claim.campaign_id, claim.run_id, claim.holder) == ("c/1", "r 1", "host-a:11:aa")
    assert (claim.acquired_at, claim.expires_at) == (T0, T0 + LEASE)
    assert len(claim.token) == 32 and int(claim.token, 16) >= 0
    assert store.current("c/1", "r 1") == claim
    assert claim_path("c/1", "r 1") == "_state/claims/campaign_id=c%2F1/run_id=r%201.json"
    stored = json.loads(lake.read_bytes(claim_path("c/1", "r 1")) or b"")
    assert stored == {
        "campaign_id": "c/1",
        "run_id": "r 1",
        "holder": "host-a:11:aa",
        "token": claim.token,
        "acquired_at": T0,
        "expires_at": T0 + LEASE,
    }

    clock.now = T0 + 45
    renewed = store.renew(claim)
    assert renewed == Claim("c/1", "r 1", "host-a:11:aa", claim.token, T0 + 45 + LEASE, T0)
    assert store.current("c/1", "r 1") == renewed
    clock.now = T0 + 100  # past the first lease, within the renewed one
    assert store.acquire("c/1", "r 1", "host-b:22:bb") is None

    store.release(renewed)
    assert store.current("c/1", "r 1") is None
    assert not lake.exists(claim_path("c/1", "r 1"))
    store.release(renewed)  # already gone: no error
    with pytest.raises(ClaimLostError, match="taken over or removed"):
        store.renew(renewed)

    again = store.acquire("c/1", "r 1", "host-b:22:bb")
    assert again is not None and again.token != claim.token


def test_a_live_claim_keeps_other_holders_out(lake: Lake, clock: FakeClock) -> None:
    store = _store(lake, clock)
    first = store.acquire("c", "r", "a")
    assert first is not None
    for holder in ("b", "a"):  # its own holder too: it renews instead
        clock.now = T0 + LEASE - 0.001
        assert store.acquire("c", "r", holder) is None
    assert store.current("c", "r") == first
    other_run = store.acquire("c", "r2", "b")
    assert other_run is not None and store.current("c", "r") == first


def test_takeover_after_expiry_locks_out_the_old_holder(lake: Lake, clock: FakeClock) -> None:
    old_store, new_store = _store(lake, clock), _store(lake, clock)
    old = old_store.acquire("c", "r", "old")
    assert old is not None

    clock.now = T0 + LEASE  # expired: its holder stopped renewing (killed, say)
    new = new_store.acquire("c", "r", "new")
    assert new is not None and new.token != old.token
    assert (new.acquired_at, new.expires_at) == (T0 + LEASE, T0 + 2 * LEASE)
    assert old_store.current("c", "r") == new

    with pytest.raises(ClaimLostError):
        old_store.renew(old)
    old_store.release(old)
    assert new_store.current("c", "r") == new
    assert old_store.acquire("c", "r", "old") is None

    clock.now = T0 + LEASE + 30
    assert new_store.renew(new).expires_at == T0 + LEASE + 30 + LEASE
    new_store.release(new)
    assert new_store.current("c", "r") is None


def test_taking_over_a_dead_holder_clears_what_it_left_half_written(
    lake: Lake, clock: FakeClock
) -> None:
    records = RunRecordStore(lake)
    records.put(RunRecord("c", "r"))
    record = export_state_path("c", "r")
    parent, _, name = record.rpartition("/")
    dead_temp = f"{parent}/.{name}.tmp-{'a' * 32}"
    other_temp = f"{parent}/.run_id=other.json.tmp-{'b' * 32}"  # another run's writer
    for temp in (dead_temp, other_temp):
        lake.write_bytes(temp, b"{half")
    store = _store(lake, clock)
    assert store.acquire("c", "r", "dead") is not None
    taken: list[Claim] = []
    live = store.acquire("c", "r", "new", abandoned=lambda claim: True, on_takeover=taken.append)
    assert live is not None and [c.holder for c in taken] == ["dead"]

    records.clear_dead_writes("c", "r")
    assert not lake.exists(dead_temp) and lake.exists(other_temp)
    assert records.get("c", "r") is not None  # the record itself stays


def test_an_expired_claim_nobody_took_can_still_be_renewed(lake: Lake, clock: FakeClock) -> None:
    store = _store(lake, clock)
    claim = store.acquire("c", "r", "slow")
    assert claim is not None
    clock.now = T0 + LEASE + 5
    assert store.renew(claim).expires_at == T0 + 2 * LEASE + 5
    assert store.acquire("c", "r", "other") is None


def test_a_lease_must_be_positive(tmp_path) -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        ClaimStore(Lake(tmp_path), lease_seconds=0)


# ---- races ------------------------------------------------------------------------


def _seed_expired_claims(lake: Lake, run_ids: list[str]) -> dict[str, str]:
    """A claim on each run, expired long ago; returns their tokens."""
    store = _store(lake, FakeClock(T0))
    tokens = {}
    for run_id in run_ids:
        claim = store.acquire("race", run_id, "dead-holder")
        assert claim is not None
        tokens[run_id] = claim.token
    return tokens


def _contend(lake: Lake, run_ids: list[str], start: Any, report: Callable[..., None]) -> None:
    """Acquire each run at the same moment as the other contenders; report the outcome."""
    store = _store(lake)
    holder = new_holder()
    for run_id in run_ids:
        start.wait()
        claim = store.acquire("race", run_id, holder)
        report((run_id, holder, claim.token if claim else None))


def _process_contender(root: str, run_ids: list[str], start: Any, results: Any) -> None:
    _contend(Lake(root), run_ids, start, results.put)


def _check_one_winner_per_run(
    lake: Lake, run_ids: list[str], outcomes: list[tuple[str, str, str | None]], contenders: int
) -> None:
    assert len(outcomes) == len(run_ids) * contenders
    store = _store(lake)
    for run_id in run_ids:
        winners = [(holder, token) for rid, holder, token in outcomes if rid == run_id and token]
        assert len(winners) == 1, (run_id, winners)
        current = store.current("race", run_id)
        assert current is not None and (current.holder, current.token) == winners[0]


def _run_ids(mode: str, lake: Lake, rounds: int) -> list[str]:
    run_ids = [f"{mode}-{n}" for n in range(rounds)]
    if mode == "expired":
        seeded, store = _seed_expired_claims(lake, run_ids), _store(lake)
        assert {r: store.current("race", r).token for r in run_ids} == seeded
    return run_ids


@pytest.mark.parametrize("mode", ["fresh", "expired"])
def test_processes_racing_for_a_run_have_one_winner(tmp_path, mode: str) -> None:
    contenders, rounds = 6, 15
    lake = Lake(tmp_path / "lake")
    run_ids = _run_ids(mode, lake, rounds)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(contenders), context.Queue()
    workers = [
        context.Process(target=_process_contender, args=(lake.base, run_ids, start, results))
        for _ in range(contenders)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in range(contenders * rounds)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    _check_one_winner_per_run(lake, run_ids, outcomes, contenders)


@pytest.mark.parametrize("mode", ["fresh", "expired"])
def test_threads_racing_for_a_run_have_one_winner(lake: Lake, mode: str) -> None:
    contenders, rounds = 8, (10 if lake.is_local else 6)  # S3 requests take turns: fewer
    run_ids = _run_ids(mode, lake, rounds)
    start = threading.Barrier(contenders)
    outcomes: list[tuple[str, str, str | None]] = []
    errors: list[BaseException] = []

    def contender() -> None:
        try:
            _contend(lake, run_ids, start, outcomes.append)
        except BaseException as error:
            errors.append(error)
            start.abort()

    threads = [threading.Thread(target=contender) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    _check_one_winner_per_run(lake, run_ids, outcomes, contenders)


# ---- S3 specifics -----------------------------------------------------------------


def test_s3_claims_need_the_s3_extra(s3_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ImportError, match=r"nudge-pipeline\[s3\]"):
        ClaimStore(s3_lake)


def test_release_without_conditional_deletes(
    s3_lake: Lake, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store refusing If-Match on delete: a plain delete, only while the lease has long to run."""
    from botocore.exceptions import ClientError

    store = _store(s3_lake, clock)
    client = store._files.client
    real_delete = client.delete_object
    refused: list[str] = []

    def delete_object(**request: Any) -> Any:
        if "IfMatch" in request:
            refused.append(request["Key"])
            error = {"Code": "NotImplemented", "Message": "conditional delete"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 501}}, "D")
        return real_delete(**request)

    monkeypatch.setattr(client, "delete_object", delete_object)
    claim = store.acquire("c", "early", "a")
    assert claim is not None
    store.release(claim)
    assert store.current("c", "early") is None

    late = store.acquire("c", "late", "a")
    assert late is not None
    clock.now = late.expires_at - 1  # a takeover could race a plain delete: leave it
    store.release(late)
    assert store.current("c", "late") == late
    assert len(refused) == 2
