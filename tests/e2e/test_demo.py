"""The README's first command: `nudge-pipeline demo` lands what the README says it lands,
every check of its Dagster runs passes, and its summary fits an 80-column terminal."""

import os
import re
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.e2e.helpers import CLI

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
# What the README promises of the demo, e.g. "it lands the 12,000 messages of the 6 completed
# runs of the 3 Published campaigns".
CLAIM = re.compile(r"it lands the\s+([\d,]+) messages of the (\d+) completed runs")
MESSAGE_CHECKS = {
    "all_export_files_landed",
    "rows_reconcile_api_csv_parquet_table",
    "no_duplicate_file_row_keys",
    "customers_are_known",
}


def test_the_demo_lands_what_the_readme_says_with_every_check_green_in_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUDGESCRIBE_", "NUDGE_"))}
    env.update(COLUMNS="80", DAGSTER_HOME=str(home))
    result = subprocess.run(
        [CLI, "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    claim = CLAIM.search(README.read_text(encoding="utf-8"))
    assert claim, "the README no longer says what the demo lands"
    messages, runs = claim.group(1), int(claim.group(2))
    assert f"{runs} run(s) landed ({messages} messages)" in result.stdout, result.stdout
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as conn:
        landed = conn.execute("SELECT count(*) FROM nudgescribe.messages").fetchall()
    assert landed == [(int(messages.replace(",", "")),)]

    summary = result.stdout.split("syncing…", 1)[1].split("publish calls made", 1)[0]
    assert max(len(line) for line in summary.splitlines()) <= 80, summary

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        evaluations = [
            entry.dagster_event.event_specific_data
            for run in instance.get_runs()
            for entry in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if entry.dagster_event is not None
        ]
    names = {e.check_name for e in evaluations}
    assert names >= MESSAGE_CHECKS, names
    assert any(name.startswith("freshness") for name in names), names
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
    assert failed == []
