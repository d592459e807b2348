"""Warehouse.session: one connection for a batch of loads and checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from nudge_pipeline.warehouse import LoadMismatchError, LockTimeoutError, Warehouse
from nudge_pipeline.warehouse.locking import exclusive_file_lock
from tests.warehouse.messages_data import write_message_files


def _count_checkouts(wh: Warehouse) -> list[int]:
    checkouts = [0]

    def counted(*_: Any) -> None:
        checkouts[0] += 1

    event.listen(wh.engine, "checkout", counted)
    return checkouts


def test_loads_and_checks_in_a_session_share_one_connection(
    any_warehouse: Warehouse, tmp_path: Path
) -> None:
    runs = {
        run: write_message_files(tmp_path / run, "c", run, files=2, rows_per_file=7)
        for run in ("r-1", "r-2")
    }
    checkouts = _count_checkouts(any_warehouse)
    with any_warehouse.session():
        for run, loads in runs.items():
            assert any_warehouse.replace_messages("c", run, loads) == 14
        assert any_warehouse.message_counts([("c", "r-1"), ("c", "r-2"), ("c", "absent")]) == {
            ("c", "r-1"): 14,
            ("c", "r-2"): 14,
            ("c", "absent"): 0,
        }
        # A failed replace rolls back its own transaction only; the session goes on.
        wrong = [replace(runs["r-1"][0], row_count=8), runs["r-1"][1]]
        with pytest.raises(LoadMismatchError):
            any_warehouse.replace_messages("c", "r-1", wrong)
        assert any_warehouse.message_count("c", "r-1") == 14
        assert any_warehouse.file_count("c", "r-1") == 2
        assert any_warehouse.duplicate_message_keys_by_run([("c", "r-1"), ("c", "r-2")]) == {
            ("c", "r-1"): 0,
            ("c", "r-2"): 0,
        }
    assert checkouts[0] == 1
    # Committed, as seen from a connection of its own.
    with Warehouse(str(any_warehouse.engine.url)) as other:
        assert other.message_counts([("c", "r-1"), ("c", "r-2")]) == {
            ("c", "r-1"): 14,
            ("c", "r-2"): 14,
        }


def test_a_duckdb_session_holds_the_writer_lock_throughout(duckdb_url: str) -> None:
    with Warehouse(duckdb_url) as wh:
        wh.migrate()
        lock = Path(str(wh.engine.url.database) + ".lock")
        with wh.session():
            assert wh.message_count("c", "r") == 0
            with pytest.raises(LockTimeoutError), exclusive_file_lock(lock, timeout=0.2):
                pass
        with exclusive_file_lock(lock, timeout=0.2):
            pass


def test_a_transaction_lands_all_its_runs_or_none(any_warehouse: Warehouse, tmp_path: Path) -> None:
    runs = {
        run: write_message_files(tmp_path / run, "c", run, files=2, rows_per_file=5)
        for run in ("r-1", "r-2", "r-3")
    }
    wh = any_warehouse
    with wh.transaction():
        assert wh.replace_messages("c", "r-1", runs["r-1"]) == 10
        assert wh.replace_messages("c", "r-2", runs["r-2"]) == 10
        assert wh.message_count("c", "r-2") == 10  # reads inside see the writes so far
        # Not committed yet: another connection sees nothing (PostgreSQL; DuckDB refuses it).
        if wh.dialect == "postgresql":
            with Warehouse(str(wh.engine.url)) as other:
                assert other.message_count("c", "r-1") == 0
    assert wh.message_counts([("c", "r-1"), ("c", "r-2")]) == {("c", "r-1"): 10, ("c", "r-2"): 10}

    wrong = [replace(runs["r-3"][0], row_count=6), runs["r-3"][1]]
    with pytest.raises(LoadMismatchError), wh.transaction():
        assert wh.replace_messages("c", "r-3", runs["r-3"]) == 10
        wh.replace_messages("c", "r-1", [runs["r-1"][0]])  # would drop file 1 of r-1
        wh.replace_messages("c", "r-3", wrong)
    # Nothing of the failed transaction stayed, not even its successful replaces.
    assert wh.message_counts([("c", "r-1"), ("c", "r-3")]) == {("c", "r-1"): 10, ("c", "r-3"): 0}
    assert wh.file_count("c", "r-1") == 2
    assert wh.file_count("c", "r-3") == 0
    # The warehouse is usable again, one transaction per write.
    assert wh.replace_messages("c", "r-3", runs["r-3"]) == 10
    with Warehouse(str(wh.engine.url)) as other:
        assert other.message_counts([("c", "r-1"), ("c", "r-2"), ("c", "r-3")]) == {
            ("c", "r-1"): 10,
            ("c", "r-2"): 10,
            ("c", "r-3"): 10,
        }


def test_a_transaction_commits_once(any_warehouse: Warehouse, tmp_path: Path) -> None:
    loads = [
        write_message_files(tmp_path / f"r-{n}", "c", f"r-{n}", files=1, rows_per_file=3)
        for n in range(4)
    ]
    commits = [0]

    def counted(*_: Any) -> None:
        commits[0] += 1

    event.listen(any_warehouse.engine, "commit", counted)
    with any_warehouse.transaction():
        for n, files in enumerate(loads):
            any_warehouse.replace_messages("c", f"r-{n}", files)
    assert commits[0] == 1
    with any_warehouse.session():
        for n, files in enumerate(loads):
            any_warehouse.replace_messages("c", f"r-{n}", files)
    assert commits[0] == 1 + len(loads)


def test_messages_key_enforced_reads_the_primary_key(any_warehouse: Warehouse) -> None:
    # PostgreSQL keeps the primary key; DuckDB has none (sql/003); SQLite is not asked.
    assert any_warehouse.messages_key_enforced() is (any_warehouse.dialect == "postgresql")
