"""Which campaign runs may be exported.

Publishing is not a read: a campaign at "Ready to Publish" moves to "Published" and its
messages go out to customers. So only completed runs of campaigns at an allowed stage are
published, and the default allows only campaigns that are already "Published".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nudge_pipeline.settings import default_of, load_settings

DEFAULT_PUBLISH_STAGES: tuple[str, ...] = default_of("publish_stages")
COMPLETED = "completed"


def parse_publish_stages(text: str | None) -> tuple[str, ...]:
    """Stages from the comma-separated NUDGE_PUBLISH_STAGES value; blank means the default."""
    return load_settings({"NUDGE_PUBLISH_STAGES": text or ""}).publish_stages


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: str


def _norm(value: str | None) -> str:
    return " ".join((value or "").split()).casefold()


def publish_eligibility(
    run_status: str | None, campaign_stage: str | None, allowed_stages: Iterable[str]
) -> Eligibility:
    allowed = tuple(allowed_stages)
    if _norm(run_status) != COMPLETED:
        return Eligibility(False, f"run status {run_status!r}, not 'completed'")
    if _norm(campaign_stage) not in {_norm(s) for s in allowed}:
        return Eligibility(
            False,
            f"stage {campaign_stage!r} not in NUDGE_PUBLISH_STAGES ({', '.join(allowed)})",
        )
    return Eligibility(True, f"completed run of a campaign at stage {campaign_stage!r}")
