"""Durable per-run export state, so a crash after ``publish`` resumes without publishing again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .paths import export_state_path
from .store import Lake


class ExportStateStore:
    """Small JSON files under ``_state/exports/campaign_id=…/run_id=….json``.

    ``put`` replaces the whole state atomically and stamps ``updated_at`` (UTC ISO 8601).
    Typical keys: ``job_id``, ``num_files``, ``status``.
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def get(self, campaign_id: str, run_id: str) -> dict[str, Any] | None:
        data = self.lake.read_bytes(export_state_path(campaign_id, run_id))
        if data is None:
            return None
        state = json.loads(data)
        if not isinstance(state, dict):
            raise ValueError(f"export state of {campaign_id!r}/{run_id!r} is not an object")
        return state

    def put(self, campaign_id: str, run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
        record = dict(state)
        record["campaign_id"] = campaign_id
        record["run_id"] = run_id
        record["updated_at"] = datetime.now(UTC).isoformat()
        payload = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")
        self.lake.write_bytes(export_state_path(campaign_id, run_id), payload)
        return record

    def update(self, campaign_id: str, run_id: str, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into the stored state (single writer per run assumed)."""
        current = self.get(campaign_id, run_id) or {}
        current.update(changes)
        return self.put(campaign_id, run_id, current)

    def delete(self, campaign_id: str, run_id: str) -> bool:
        return self.lake.delete(export_state_path(campaign_id, run_id))
