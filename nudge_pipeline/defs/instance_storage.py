"""The local instance's SQLite storage, with event-log connections kept open between events.

Dagster's SQLite event log creates an engine and opens a new connection for every event,
then closes it. Closing the last connection to a WAL database makes SQLite checkpoint it, so
each stored event paid for an engine, a connect, a commit and a checkpoint (about 10 ms; a
200-partition sync stores over a thousand events). Here each shard keeps one engine with a
small connection pool, so only the commit is paid per event. Durability is unchanged: the
databases stay in WAL mode with SQLite's default `synchronous` setting.

The files are the same as with `storage: sqlite`, so an instance can switch either way.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import Connection, Engine, create_engine

# The index shard plus the shards of the runs in progress; older runs' engines are closed.
MAX_OPEN_SHARDS = 8

# Engines inherited by a forked child: never used or closed there (the parent owns them).
_inherited_engines: list[Engine] = []


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data)
        forget = weakref.WeakMethod(self._forget_engines_after_fork)
        os.register_at_fork(after_in_child=lambda: (method := forget()) and method())

    def _forget_engines_after_fork(self) -> None:
        # SQLite connections must not cross a fork; the child opens its own.
        _inherited_engines.extend(self._engines.values())
        self._engines = OrderedDict()
        self._db_lock = threading.Lock()

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            pool_size=1,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        self._engines[shard] = engine
        while len(self._engines) > MAX_OPEN_SHARDS:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _close_engines(self) -> None:
        with self._db_lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.dispose()

    def wipe(self) -> None:
        self._close_engines()  # the run shards' files are deleted below
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._close_engines()


class LocalSqliteStorage(DagsterSqliteStorage):
    """`storage: sqlite` with the pooled event log; configured the same way (`base_dir`)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Any
    ) -> LocalSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
