"""Claim holder labels (`host:pid:hex`): which name this process, which a dead one."""

import subprocess
import sys

from nudge_pipeline.landing.engine import gone_from_this_host, holder_label, of_this_process


def test_this_process_is_neither_gone_nor_another() -> None:
    label = holder_label()
    assert of_this_process(label)
    assert not gone_from_this_host(label)


def test_a_finished_process_of_this_host_is_gone_and_not_this_one() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    host = holder_label().partition(":")[0]
    label = f"{host}:{child.stdout.strip()}:00000000"
    assert gone_from_this_host(label)
    assert not of_this_process(label)


def test_other_hosts_and_malformed_labels_name_no_process_here() -> None:
    host, pid, _ = holder_label().split(":")
    for label in (f"elsewhere.example:{pid}:ab", "no-pid", ":", f"{host}:not-a-pid:ab"):
        assert not of_this_process(label)
        assert not gone_from_this_host(label)
