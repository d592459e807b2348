"""Simulator settings: data size, export behaviour and fault rates."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

RetryAfterForm = Literal["seconds", "http-date"]

# Settings that only shape the seeded data; changing them at runtime would desync the world.
STRUCTURAL_FIELDS = frozenset(
    {
        "seed",
        "workspaces",
        "campaigns_per_stage",
        "runs_per_campaign",
        "messages_per_run",
        "rows_per_file",
        "customer_groups",
        "customers_per_group",
        "messages_to_unknown_customers",
    }
)


@dataclass
class SimConfig:
    seed: int = 7
    # Size of each of the two accounts.
    workspaces: int = 2
    campaigns_per_stage: int = 1
    runs_per_campaign: int = 2
    messages_per_run: int = 60
    rows_per_file: int = 25
    customer_groups: int = 2
    customers_per_group: int = 40
    # Off: a run's messages cycle through its group's customers. On: row n goes to the group's
    # n-th customer id even past the group's size, so messages reach unknown customers.
    messages_to_unknown_customers: bool = False
    page_size: int = 15
    # Auth.
    token_ttl: float = 3600.0
    auth_failure_status: int = 403
    # Auth failures with an empty body instead of {"message": ...}, as some gateways answer.
    auth_failure_empty_body: bool = False
    # Export jobs.
    export_duration: float = 0.3
    pages_omit_status: bool = False
    require_run_id: bool = True
    url_ttl: float = 3600.0
    publish_quota: int | None = None
    rerun_duration: float = 1.0
    customer_pages_omit_total: bool = False
    storage_public_host: str = "127.0.0.1"
    # Export jobs that end as "status": "failed" (with no files): every job of the named runs,
    # and a share of all jobs drawn from the seed.
    failing_export_runs: list[str] = field(default_factory=list)
    export_failure_rate: float = 0.0
    # Files that fetch answers with 500 "Failed to parse.", every time: "<run_id>" (all of
    # its files) or "<run_id>/<file_num>", and a share of all files drawn from the seed.
    unparseable_files: list[str] = field(default_factory=list)
    unparseable_file_rate: float = 0.0
    # Faults; rates are probabilities per request, drawn reproducibly from the seed.
    fault_429_rate: float = 0.0
    retry_after_form: RetryAfterForm = "seconds"
    retry_after_seconds: int = 1
    fault_5xx_rate: float = 0.0
    fault_drop_rate: float = 0.0
    fault_cut_body_rate: float = 0.0
    latency_ms: int = 0
    # "METHOD /path" keys (e.g. "POST /v1/messages/fetch", "GET /storage"); None means every route.
    fault_endpoints: list[str] | None = field(default=None)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SimConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SimConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown simulator settings: {sorted(unknown)}")
        return cls(**values)

    def updated(self, changes: dict[str, Any]) -> SimConfig:
        """A copy with runtime-changeable settings replaced; structural ones are refused."""
        frozen = STRUCTURAL_FIELDS & set(changes)
        if frozen:
            raise ValueError(f"settings fixed at start-up: {sorted(frozen)}")
        merged = dataclasses.asdict(self) | changes
        return SimConfig.from_dict(merged)
