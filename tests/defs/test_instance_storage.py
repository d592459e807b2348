"""The local instance's event log keeps its SQLite connections open, on Dagster's own files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import Engine, event

from nudge_pipeline.defs.instance_storage import (
    MAX_OPEN_SHARDS,
    LocalSqliteStorage,
    PooledSqliteEventLogStorage,
)

PROJECT_YAML = Path(__file__).resolve().parents[2] / "dagster_home" / "dagster.yaml"
PLAIN_SQLITE_YAML = "storage:\n  sqlite:\n    base_dir:\n      env: DAGSTER_HOME\n"
ASSET = dg.AssetKey("pooled_probe")


def _open(home: Path, yaml_text: str | None = None) -> dg.DagsterInstance:
    if yaml_text is None:
        shutil.copy(PROJECT_YAML, home / "dagster.yaml")
    else:
        (home / "dagster.yaml").write_text(yaml_text)
    return dg.DagsterInstance.from_config(str(home))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def sqlite_connects() -> Iterator[list[str]]:
    """Every new SQLite connection opened by any engine while the test runs."""
    opened: list[str] = []

    def record(dbapi_connection: object, record: object) -> None:
        opened.append("connect")

    event.listen(Engine, "connect", record)
    yield opened
    event.remove(Engine, "connect", record)


def _report(instance: dg.DagsterInstance, count: int, tag: str) -> None:
    for n in range(count):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(ASSET, metadata={"tag": tag, "n": n})
        )


def _materializations(instance: dg.DagsterInstance) -> list[tuple[str, int]]:
    records = instance.fetch_materializations(ASSET, limit=1000).records
    found = []
    for record in records:
        metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
        found.append((metadata["tag"].value, metadata["n"].value))
    return sorted(found)


@dg.op
def _noop() -> None:
    pass


@dg.job
def _tiny_job() -> None:
    _noop()


def test_project_instance_uses_the_pooled_storage(home: Path) -> None:
    instance = _open(home)
    try:
        storage_class = instance.get_ref().storage_data  # type: ignore[union-attr]
        assert storage_class.class_name == LocalSqliteStorage.__name__
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert instance.event_log_storage.supports_global_concurrency_limits
    finally:
        instance.dispose()


def test_files_are_dagsters_own_sqlite_storage_both_ways(home: Path) -> None:
    pooled = _open(home)
    _report(pooled, 3, "pooled")
    assert _tiny_job.execute_in_process(instance=pooled).success
    pooled.dispose()

    plain = _open(home, PLAIN_SQLITE_YAML)
    assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
    assert _materializations(plain) == [("pooled", 0), ("pooled", 1), ("pooled", 2)]
    assert len(plain.get_runs()) == 1
    _report(plain, 2, "plain")
    plain.dispose()

    again = _open(home)
    try:
        assert _materializations(again) == [
            ("plain", 0),
            ("plain", 1),
            ("pooled", 0),
            ("pooled", 1),
            ("pooled", 2),
        ]
    finally:
        again.dispose()


def test_events_reuse_open_connections_where_plain_sqlite_opens_one_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_connects: list[str]
) -> None:
    opened = {}
    for name, yaml_text in (("pooled", None), ("plain", PLAIN_SQLITE_YAML)):
        home = tmp_path / name
        home.mkdir()
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        instance = _open(home, yaml_text)
        _report(instance, 1, "warm-up")  # creates the databases
        before = len(sqlite_connects)
        _report(instance, 40, name)
        opened[name] = len(sqlite_connects) - before
        assert len(_materializations(instance)) == 41
        instance.dispose()
    assert opened["plain"] >= 40
    assert opened["pooled"] <= 2


def test_only_recent_run_databases_stay_open_and_old_ones_reopen(home: Path) -> None:
    instance = _open(home)
    storage = instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    try:
        run_ids = [
            _tiny_job.execute_in_process(instance=instance).run_id
            for _ in range(MAX_OPEN_SHARDS + 3)
        ]
        assert len(storage._engines) == MAX_OPEN_SHARDS
        assert run_ids[0] not in storage._engines
        for run_id in run_ids:  # closed ones open again
            steps = [e for e in instance.all_logs(run_id) if e.is_dagster_event]
            assert any(e.dagster_event_type == dg.DagsterEventType.RUN_SUCCESS for e in steps)

        instance.wipe()
        assert instance.get_runs() == []
        _report(instance, 1, "after-wipe")
        assert _materializations(instance) == [("after-wipe", 0)]
    finally:
        instance.dispose()
    assert storage._engines == {}


def test_a_forked_child_opens_its_own_connections(home: Path) -> None:
    instance = _open(home)
    storage = instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    try:
        _report(instance, 1, "parent-before")
        assert storage._engines
        pid = os.fork()
        if pid == 0:  # child: must not touch the parent's connections
            code = 1
            try:
                if not storage._engines:
                    _report(instance, 2, "child")
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        _report(instance, 1, "parent-after")
        assert _materializations(instance) == [
            ("child", 0),
            ("child", 1),
            ("parent-after", 0),
            ("parent-before", 0),
        ]
    finally:
        instance.dispose()
