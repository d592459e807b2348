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


class RowTooLargeError(LakeInputError):
    """A CSV row does not fit in the read block; the same bytes read with a larger
    block_size can land."""

    def __init__(self, campaign_id: str, run_id: str, file_num: int, block_size: int) -> None:
        self.block_size = block_size
        mib = block_size // (1024 * 1024)
        super().__init__(campaign_id, run_id, file_num, f"a row is longer than {mib} MiB")


class LakeTableError(ValueError):
    """A snapshot or customers table cannot be stored as it is: a column named as a time
    (``*_at``, ``*_date``) holds a value that is not one. Retrying gives the same error."""

    def __init__(self, rel: str, column: str, reason: str) -> None:
        self.rel = rel
        self.column = column
        super().__init__(f"{rel}: column {column}: {reason}")
