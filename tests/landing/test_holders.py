"""Claim holder labels (`host:pid:hex`): which name this process, which a dead one."""

from nudge_pipeline.landing.engine import gone_from_this_host, holder_label, of_this_process
from tests.landing.holders import dead_holder


def test_this_process_is_neither_gone_nor_another() -> None:
    label = holder_label()
    assert of_this_process(label)
    assert not gone_from_this_host(label)


def test_a_finished_process_of_this_host_is_gone_and_not_this_one() -> None:
    label = dead_holder()
    assert gone_from_this_host(label)
    assert not of_this_process(label)


def test_other_hosts_and_malformed_labels_name_no_process_here() -> None:
    host, pid, _ = holder_label().split(":")
    for label in (f"elsewhere.example:{pid}:ab", "no-pid", ":", f"{host}:not-a-pid:ab"):
        assert not of_this_process(label)
        assert not gone_from_this_host(label)
