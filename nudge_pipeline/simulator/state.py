"""Process-wide simulator state shared by the API and storage apps."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from nudge_pipeline.simulator.config import SimConfig
from nudge_pipeline.simulator.data import World, build_world
from nudge_pipeline.simulator.exports import ExportManager
from nudge_pipeline.simulator.stats import Stats


class SimState:
    def __init__(self, config: SimConfig, data_dir: Path) -> None:
        self._config_lock = threading.Lock()
        self._config = config
        self.world_lock = threading.RLock()
        self.world: World = build_world(config)
        self.stats = Stats()
        self.data_dir = data_dir
        self.exports = ExportManager(data_dir)
        # Signs pre-signed URLs; derived from the seed so URLs are reproducible too.
        self.url_secret = hashlib.sha256(f"{config.seed}:storage".encode()).digest()
        self.storage_base_url = ""
        self.base_url = ""
        self.fault_counters: dict[str, int] = {}
        self.fault_lock = threading.Lock()

    @property
    def config(self) -> SimConfig:
        with self._config_lock:
            return self._config

    def configure(self, changes: dict[str, Any]) -> SimConfig:
        with self._config_lock:
            self._config = self._config.updated(changes)
            self.world.config = replace(self._config)
            return self._config

    def next_fault_draw(self, key: str) -> int:
        """Per-endpoint call index, so fault sequences replay identically for the same seed."""
        with self.fault_lock:
            n = self.fault_counters.get(key, 0)
            self.fault_counters[key] = n + 1
            return n

    def connection_info(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "storage_url": self.storage_base_url,
            "api_code": self.world.api_code,
            "accounts": [a.public() for a in self.world.accounts],
            "data_dir": str(self.data_dir),
            "config": self.config.to_json(),
        }
