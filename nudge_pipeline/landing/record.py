"""The one typed record of each campaign run, durable in the lake's state store.

It says how far the run got: claimed, published with a job id, exported, files landed,
loaded, skipped with its reason, or failed with its cause. What an earlier attempt learnt
(the job id, the completed export, the landed files) survives a later failure, so a retry
resumes there and never publishes again. The command's summary, the Dagster metadata and
the warehouse's run status all read this record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from nudge_pipeline.lake import Lake, export_state_path, sweep_temps_of


class RunState(StrEnum):
    CLAIMED = "claimed"
    PUBLISHED = "published"
    EXPORTED = "exported"
    FILES_LANDED = "files_landed"
    LOADED = "loaded"
    SKIPPED = "skipped"
    FAILED = "failed"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class LandedFile:
    """One export file in the lake: what the CSV held and when it was downloaded."""

    row_count: int
    sha256: str
    byte_count: int  # of the CSV
    fetched_at: str = ""


@dataclass(frozen=True)
class RunRecord:
    campaign_id: str
    run_id: str
    state: RunState = RunState.CLAIMED
    job_id: str | None = None
    num_files: int | None = None  # set once the export is complete
    exported_at: str | None = None
    files: dict[int, LandedFile] = field(default_factory=dict)
    loaded_rows: int | None = None
    loaded_at: str | None = None
    loaded_by: str = ""  # the claim holder whose load this is (`host:pid:hex`)
    cause: str = ""  # a short cause, for failures
    reason: str = ""  # why it was skipped or failed, in words
    attempted_at: str = ""
    updated_at: str = ""

    @property
    def export_complete(self) -> bool:
        return self.exported_at is not None and self.num_files is not None

    @property
    def csv_rows(self) -> int:
        return sum(f.row_count for f in self.files.values())

    def moved(self, state: RunState, **changes: Any) -> RunRecord:
        """This record in `state`; a failure or skip keeps what earlier steps learnt."""
        reason = changes.pop(
            "reason", "" if state not in (RunState.FAILED, RunState.SKIPPED) else self.reason
        )
        cause = changes.pop("cause", "" if state is not RunState.FAILED else self.cause)
        return replace(self, state=state, reason=reason, cause=cause, **changes)

    def to_json(self) -> bytes:
        data = asdict(self)
        data["state"] = str(self.state)
        data["files"] = {str(n): asdict(f) for n, f in sorted(self.files.items())}
        return json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> RunRecord:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("a run record is a JSON object")
        files = {
            int(n): LandedFile(
                row_count=int(f["row_count"]),
                sha256=str(f["sha256"]),
                byte_count=int(f.get("byte_count") or 0),
                fetched_at=str(f.get("fetched_at") or ""),
            )
            for n, f in (data.get("files") or {}).items()
        }
        if "state" not in data:
            return _from_export_state(data, files)
        num_files = data.get("num_files")
        return cls(
            campaign_id=str(data["campaign_id"]),
            run_id=str(data["run_id"]),
            state=RunState(data["state"]),
            job_id=data.get("job_id"),
            num_files=None if num_files is None else int(num_files),
            exported_at=data.get("exported_at"),
            files=files,
            loaded_rows=data.get("loaded_rows"),
            loaded_at=data.get("loaded_at"),
            loaded_by=str(data.get("loaded_by") or ""),
            cause=str(data.get("cause") or ""),
            reason=str(data.get("reason") or ""),
            attempted_at=str(data.get("attempted_at") or ""),
            updated_at=str(data.get("updated_at") or ""),
        )


def _from_export_state(data: dict[str, Any], files: dict[int, LandedFile]) -> RunRecord:
    """A lake written before run records kept `{job_id, status, num_files, files}`."""
    completed = data.get("status") == "completed" and data.get("num_files") is not None
    state = RunState.PUBLISHED
    if completed:
        state = RunState.FILES_LANDED if files else RunState.EXPORTED
    return RunRecord(
        campaign_id=str(data["campaign_id"]),
        run_id=str(data["run_id"]),
        state=state,
        job_id=data.get("job_id"),
        num_files=int(data["num_files"]) if completed else None,
        exported_at=str(data.get("completed_at") or data.get("updated_at") or "")
        if completed
        else None,
        files=files,
        updated_at=str(data.get("updated_at") or ""),
    )


ACCOUNT_STOP_PATH = "_state/account_stop.json"


@dataclass(frozen=True)
class AccountStop:
    """A refusal that rules out every publish of the account (a spent quota), and when."""

    cause: str
    reason: str
    at: str


class RunRecordStore:
    """Run records as small JSON files in the lake (`_state/exports/…`), replaced atomically.

    Only the holder of a run's claim writes its record, so there is one writer at a time.
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def get(self, campaign_id: str, run_id: str) -> RunRecord | None:
        raw = self.lake.read_bytes(export_state_path(campaign_id, run_id))
        if raw is None:
            return None
        record = RunRecord.from_json(raw)
        if (record.campaign_id, record.run_id) != (campaign_id, run_id):
            raise ValueError(f"run record of {campaign_id!r}/{run_id!r} names another run")
        return record

    def get_or_new(self, campaign_id: str, run_id: str) -> RunRecord:
        return self.get(campaign_id, run_id) or RunRecord(campaign_id, run_id)

    def stop_account(self, cause: str, reason: str) -> None:
        stop = AccountStop(cause, reason, now_iso())
        self.lake.write_bytes(ACCOUNT_STOP_PATH, json.dumps(asdict(stop)).encode("utf-8"))

    def account_stopped_since(self, since: str) -> AccountStop | None:
        """The account's latest refusal for every run, if it came at or after `since`."""
        raw = self.lake.read_bytes(ACCOUNT_STOP_PATH)
        if raw is None:
            return None
        stop = AccountStop(**json.loads(raw))
        return stop if stop.at >= since else None

    def clear_dead_writes(self, campaign_id: str, run_id: str) -> None:
        """Remove the temporary file a killed writer of this run's record left behind."""
        sweep_temps_of(self.lake, export_state_path(campaign_id, run_id))

    def put(self, record: RunRecord) -> RunRecord:
        stamped = replace(record, updated_at=now_iso())
        self.lake.write_bytes(
            export_state_path(record.campaign_id, record.run_id), stamped.to_json()
        )
        return stamped
