"""Claim holder labels of processes that have exited, for takeover tests."""

import subprocess
import sys

from nudge_pipeline.landing.engine import holder_label


def dead_holder() -> str:
    """The `host:pid:hex` label of a process of this host that has exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return f"{holder_label().partition(':')[0]}:{child.stdout.strip()}:deadbeef"
