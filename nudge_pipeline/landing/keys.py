"""Keys of campaign runs and customer groups, as Dagster partitions and summaries name them."""

from __future__ import annotations

RUN_KEY_SEPARATOR = "~"

# Dagster refuses these inside partition keys.
_FORBIDDEN_IN_KEYS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")


class PartitionKeyError(ValueError):
    """An id that cannot be turned into a partition key (or a key that is not one of ours)."""


def _check_id(kind: str, value: str) -> None:
    if not value or not value.strip():
        raise PartitionKeyError(f"{kind} is empty")
    bad = [s for s in _FORBIDDEN_IN_KEYS if s in value]
    if bad:
        raise PartitionKeyError(
            f"{kind} {value!r} holds {bad[0]!r}, which a Dagster partition key cannot hold"
        )


def campaign_run_key(campaign_id: str, run_id: str) -> str:
    """`<campaign_id>~<run_id>`. Ids holding `~` would make the key ambiguous: refused."""
    for kind, value in (("campaign_id", campaign_id), ("run_id", run_id)):
        _check_id(kind, value)
        if RUN_KEY_SEPARATOR in value:
            raise PartitionKeyError(
                f"{kind} {value!r} holds {RUN_KEY_SEPARATOR!r}, the separator of campaign_runs "
                "partition keys; this run cannot be partitioned"
            )
    return f"{campaign_id}{RUN_KEY_SEPARATOR}{run_id}"


def parse_campaign_run_key(key: str) -> tuple[str, str]:
    """(campaign_id, run_id) of a campaign_runs partition key."""
    campaign_id, sep, run_id = key.partition(RUN_KEY_SEPARATOR)
    if not sep or not campaign_id or not run_id or RUN_KEY_SEPARATOR in run_id:
        raise PartitionKeyError(
            f"{key!r} is not a campaign_runs partition key (<campaign_id>~<run_id>)"
        )
    return campaign_id, run_id


def customer_group_key(customer_group_id: str) -> str:
    _check_id("customer_group_id", customer_group_id)
    return customer_group_id
