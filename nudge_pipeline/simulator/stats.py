"""Thread-safe call accounting for /__sim/stats."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._quota_used: Counter[str] = Counter()  # publishes per account
        self.reset()

    def reset(self, *, quota: bool = False) -> None:
        """Zero the counters; the publish quota is account state and survives unless asked."""
        with self._lock:
            if quota:
                self._quota_used.clear()
            self._calls: Counter[str] = Counter()
            self._responses: dict[str, Counter[int]] = {}
            self._faults: Counter[str] = Counter()
            self._storage_auth_headers: set[str] = set()
            self._in_flight = 0
            self._high_water = 0
            self._bytes_served = 0
            self._publishes: list[dict[str, Any]] = []

    def request_started(self, key: str, counts_concurrency: bool) -> None:
        with self._lock:
            self._calls[key] += 1
            if counts_concurrency:
                self._in_flight += 1
                self._high_water = max(self._high_water, self._in_flight)

    def request_finished(self, key: str, status: int | None, counts_concurrency: bool) -> None:
        with self._lock:
            if counts_concurrency:
                self._in_flight -= 1
            if status is not None:
                self._responses.setdefault(key, Counter())[status] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def bytes_served(self, n: int) -> None:
        with self._lock:
            self._bytes_served += n

    def try_spend_quota(self, account_id: str, limit: int | None) -> bool:
        """The quota is the account's: one account spending it leaves the other's intact."""
        with self._lock:
            if limit is not None and self._quota_used[account_id] >= limit:
                return False
            self._quota_used[account_id] += 1
            return True

    def publish_accepted(self, account_id: str, campaign_id: str, run_id: str) -> None:
        """An accepted publish, with its wall-clock time: who exported what, and when."""
        with self._lock:
            self._publishes.append(
                {
                    "account_id": account_id,
                    "campaign_id": campaign_id,
                    "run_id": run_id,
                    "at": time.time(),
                }
            )

    def storage_auth_header(self, names: set[str]) -> None:
        with self._lock:
            self._storage_auth_headers |= names

    def snapshot(self, quota_limit: int | None) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self._calls),
                "responses": {
                    k: {str(s): n for s, n in v.items()} for k, v in self._responses.items()
                },
                "quota_used": sum(self._quota_used.values()),
                "quota_used_by_account": dict(self._quota_used),
                "quota_limit": quota_limit,
                "storage_auth_header_seen": bool(self._storage_auth_headers),
                "storage_auth_headers": sorted(self._storage_auth_headers),
                "concurrent_high_water": self._high_water,
                "in_flight": self._in_flight,
                "faults_injected": dict(self._faults),
                "bytes_served": self._bytes_served,
                "accepted_publishes": list(self._publishes),
            }
