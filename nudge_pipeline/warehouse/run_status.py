"""What became of a campaign run's load: a row of nudgescribe.campaign_run_status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

LoadStatus = Literal["loaded", "skipped", "pending", "failed"]
LOAD_STATUSES: tuple[str, ...] = get_args(LoadStatus)


@dataclass(frozen=True)
class RunStatus:
    """The latest load attempt of one campaign run.

    `load_reason` says why in a few words (a skip reason, an error class); it must hold no
    secret and no profile value. `last_attempt_at` is timezone-aware; None means now.
    """

    campaign_id: str
    run_id: str
    load_status: LoadStatus
    load_reason: str | None = None
    last_attempt_at: datetime | None = None
    export_job_id: str | None = None
