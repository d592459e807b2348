"""Errors raised by the lake."""

from __future__ import annotations


class LakeInputError(ValueError):
    """An export file cannot be landed as it is: bad encoding, columns or row shape.

    Retrying the same bytes gives the same error, so callers should not retry it.
    """

    def __init__(self, campaign_id: str, run_id: str, file_num: int, reason: str) -> None:
        self.campaign_id = campaign_id
        self.run_id = run_id
        self.file_num = file_num
        self.reason = reason
        super().__init__(
            f"export file {file_num} of campaign {campaign_id!r} run {run_id!r}: {reason}"
        )
