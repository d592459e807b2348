"""Partition keys and the publish policy: the parts that decide what may be published."""

import pytest

from nudge_pipeline.defs.partitions import (
    PartitionKeyError,
    campaign_run_key,
    parse_campaign_run_key,
)
from nudge_pipeline.landing.eligibility import parse_publish_stages, publish_eligibility


def test_run_keys_round_trip_with_leading_zeros_and_unicode() -> None:
    key = campaign_run_key("0042", "rün-7")
    assert key == "0042~rün-7"
    assert parse_campaign_run_key(key) == ("0042", "rün-7")


@pytest.mark.parametrize(("campaign_id", "run_id"), [("a~b", "r1"), ("c1", "r~1"), ("", "r1")])
def test_ids_that_cannot_form_a_key_are_refused_clearly(campaign_id: str, run_id: str) -> None:
    with pytest.raises(PartitionKeyError, match="campaign_id|run_id"):
        campaign_run_key(campaign_id, run_id)


def test_a_tilde_in_an_id_is_named_in_the_error() -> None:
    with pytest.raises(PartitionKeyError, match=r"'a~b' holds '~'"):
        campaign_run_key("a~b", "r1")


def test_default_publishes_only_completed_runs_of_published_campaigns() -> None:
    default = parse_publish_stages(None)
    assert default == ("Published",)
    assert publish_eligibility("completed", "Published", default).eligible
    for stage in ("Ready to Publish", "Draft", "Generating", None, "Archived"):
        verdict = publish_eligibility("completed", stage, default)
        assert not verdict.eligible and "NUDGE_PUBLISH_STAGES" in verdict.reason
    for status in ("running", "queued", "failed", None):
        assert not publish_eligibility(status, "Published", default).eligible


def test_ready_to_publish_needs_an_explicit_opt_in() -> None:
    opted_in = parse_publish_stages("Published, Ready to Publish")
    assert publish_eligibility("completed", "Ready to Publish", opted_in).eligible
    assert not publish_eligibility("running", "Ready to Publish", opted_in).eligible
