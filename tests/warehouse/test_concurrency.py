"""Readers during replaces, and several writers on one DuckDB file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from nudge_pipeline.warehouse import LockTimeoutError, Warehouse
from nudge_pipeline.warehouse.locking import exclusive_file_lock
from tests.warehouse.messages_data import write_message_files
from tests.warehouse.processes import expect_line, loads_json, start_worker


def test_readers_see_the_old_or_the_new_run_never_less(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """Readers on their own connections (threads; DuckDB in-process) count the run nonstop."""
    small = write_message_files(tmp_path / "a", "c", "r", files=2, rows_per_file=2_500, text="a")
    large = write_message_files(tmp_path / "b", "c", "r", files=3, rows_per_file=3_000, text="b")
    warehouse.replace_messages("c", "r", small)
    seen: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()
    reads = threading.Semaphore(0)

    def reader() -> None:
        try:
            while not stop.is_set():
                seen.append(warehouse.message_count("c", "r"))
                reads.release()
        except BaseException as exc:  # surfaced below; a thread cannot fail the test
            failures.append(exc)
            reads.release()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for round_number in range(8):
            warehouse.replace_messages("c", "r", large if round_number % 2 == 0 else small)
            for _ in range(3):  # let readers look between replaces too
                reads.acquire(timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures
    assert len(seen) >= 24
    assert set(seen) <= {5_000, 9_000}, sorted(set(seen))
    assert 9_000 in seen


@pytest.mark.slow
def test_two_processes_loading_duckdb_at_once_both_succeed(duckdb_url: str, tmp_path: Path) -> None:
    with Warehouse(duckdb_url) as wh:
        wh.migrate()
    workers = []
    for run in ("r-1", "r-2"):
        loads = write_message_files(tmp_path / run, "c", run, files=4, rows_per_file=20_000)
        workers.append(start_worker("load", duckdb_url, loads_json(loads), "c", run, "3"))
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr
        assert stdout.strip() == "DONE"
    with Warehouse(duckdb_url) as wh:
        assert wh.message_count("c", "r-1") == 80_000
        assert wh.message_count("c", "r-2") == 80_000


@pytest.mark.slow
def test_write_waits_while_another_process_holds_duckdb_open(
    duckdb_url: str, tmp_path: Path
) -> None:
    """A process outside this package (an analyst's shell) holds DuckDB's own file lock."""
    with Warehouse(duckdb_url) as wh:
        wh.migrate()
        loads = write_message_files(tmp_path, "c", "r", files=1, rows_per_file=100)
        holder = start_worker("hold-duckdb", wh.engine.url.database or "", "1.5")
        expect_line(holder, "READY")
        assert wh.replace_messages("c", "r", loads) == 100
        assert holder.wait(timeout=60) == 0
        assert wh.message_count("c", "r") == 100


def test_writer_lock_timeout_is_reported(duckdb_url: str, tmp_path: Path) -> None:
    with Warehouse(duckdb_url, lock_timeout=0.2) as wh:
        wh.migrate()
        loads = write_message_files(tmp_path, "c", "r", files=1, rows_per_file=10)
        lock = Path(str(wh.engine.url.database) + ".lock")
        with exclusive_file_lock(lock, timeout=1), pytest.raises(LockTimeoutError):
            wh.replace_messages("c", "r", loads)
        assert wh.replace_messages("c", "r", loads) == 10


def test_concurrent_replaces_of_one_run_both_succeed(warehouse: Warehouse, tmp_path: Path) -> None:
    """Two loads of the same partition at once (a sensor run and a manual sync, say)."""
    loads = write_message_files(tmp_path, "c", "r", files=2, rows_per_file=5_000)
    failures: list[BaseException] = []

    def load() -> None:
        try:
            for _ in range(3):
                warehouse.replace_messages("c", "r", loads)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert warehouse.message_count("c", "r") == 10_000
