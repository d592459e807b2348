"""Only dagster-daemon, the discovery and automation sensors switched on: the account lands.

No `sync`, no schedule tick. The simulator answers awkwardly (export pages without a status,
tokens that expire within seconds, throttling and server errors now and then); the daemon's
sensors and Declarative Automation must still land every campaign, run, customer and message
exactly, with names and run numbers in campaign_run_summary for every loaded run.
"""

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from nudge_pipeline.defs.automation import AUTOMATION_SENSOR
from nudge_pipeline.simulator import SimHandle
from tests.e2e.helpers import client_for, expected_messages, landed_messages, sync_env
from tests.fixtures.waiting import stop_process, wait_until

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
DISCOVERY_SENSOR = "nudgescribe_discovery_sensor"
DEADLINE_SECONDS = 170

INSTANCE_YAML = """\
storage:
  sqlite:
    base_dir: {home}
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
concurrency:
  pools:
    granularity: run
    default_limit: 4
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
telemetry:
  enabled: false
"""

WORKSPACE_YAML = """\
load_from:
  - python_module:
      module_name: nudge_pipeline.definitions
      location_name: nudge_pipeline
"""


@pytest.fixture
def awkward_simulator(make_simulator: Any) -> SimHandle:
    # One workspace: two runs to land and two customer groups, each its own Dagster run.
    sim: SimHandle = make_simulator(
        workspaces=1,
        pages_omit_status=True,
        token_ttl=4.0,
        fault_429_rate=0.05,
        fault_5xx_rate=0.03,
        retry_after_seconds=1,
    )
    return sim


@pytest.fixture
def daemon_env(awkward_simulator: SimHandle, tmp_path: Path, postgres_url: str) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML.format(home=home))
    # Its databases made once, here: the daemon and two `dagster sensor start` creating them
    # at the same moment race in alembic.
    dg.DagsterInstance.from_config(str(home)).dispose()
    (tmp_path / "workspace.yaml").write_text(WORKSPACE_YAML)
    return sync_env(
        awkward_simulator,
        tmp_path,
        postgres_url,
        NUDGE_DISCOVERY_INTERVAL_SECONDS="2",
        NUDGE_AUTOMATION_INTERVAL_SECONDS="2",
        NUDGE_EXPORT_SETTLE_SECONDS="0.5",
    )


@pytest.fixture
def daemon(daemon_env: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(tmp_path / "workspace.yaml")],
            cwd=tmp_path,
            env=daemon_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield log_path
        finally:
            stop_process(process, grace_seconds=30)


def _start_sensors(env: dict[str, str], tmp_path: Path) -> None:
    """`dagster sensor start` for both sensors, side by side (each loads the code)."""
    starts = [
        subprocess.Popen(
            [str(BIN / "dagster"), "sensor", "start", name, "-w", str(tmp_path / "workspace.yaml")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in (AUTOMATION_SENSOR, DISCOVERY_SENSOR)
    ]
    for start in starts:
        output, _ = start.communicate(timeout=120)
        assert start.returncode == 0, output[-3000:]


def _account(sim: SimHandle) -> dict[str, Any]:
    """What the API lists: campaigns, completed runs with numbers, customers by group."""
    with client_for(sim) as client:
        campaigns = client.list_campaigns()
        runs = {
            (c.campaign_id, r.run_id): r.run_number
            for c in campaigns
            for r in client.list_runs(c.campaign_id)
        }
        groups = {
            g.customer_group_id
            for w in {c.workspace_id for c in campaigns if c.workspace_id}
            for g in client.list_customer_groups(w)
        }
        customers = {
            (group, c.customer_id)
            for group in groups
            for _, page in client.iter_customer_pages(group)
            for c in page
        }
    return {
        "campaigns": {(c.campaign_id, c.campaign_name) for c in campaigns},
        "runs": runs,
        "customers": customers,
        "messages": expected_messages(sim, {"Published"}),
    }


def _warehouse(url: str) -> dict[str, Any] | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("campaign_runs", schema="nudgescribe"):
                return None
            rows = {
                name: conn.execute(sa.text(query)).all()
                for name, query in {
                    "campaigns": "SELECT campaign_id, campaign_name FROM nudgescribe.campaigns",
                    "runs": "SELECT campaign_id, run_id, run_number FROM nudgescribe.campaign_runs",
                    "customers": "SELECT customer_group_id, customer_id FROM nudgescribe.customers",
                    "summary": "SELECT campaign_id, run_id, campaign_name, run_number "
                    "FROM nudgescribe.campaign_run_summary WHERE loaded_message_count > 0",
                }.items()
            }
    finally:
        engine.dispose()
    return {
        "campaigns": set(map(tuple, rows["campaigns"])),
        "runs": {(c, r): n for c, r, n in rows["runs"]},
        "customers": set(map(tuple, rows["customers"])),
        "summary": {(c, r): (name, n) for c, r, name, n in rows["summary"]},
        "messages": landed_messages(url),
    }


def test_the_daemon_alone_lands_the_account_with_names_and_run_numbers(
    awkward_simulator: SimHandle,
    daemon_env: dict[str, str],
    daemon: Path,
    tmp_path: Path,
    postgres_url: str,
) -> None:
    account = _account(awkward_simulator)
    assert account["messages"] and account["customers"]
    _start_sensors(daemon_env, tmp_path)

    def landed() -> dict[str, Any] | None:
        found = _warehouse(postgres_url)
        if found is None:
            return None
        complete = (
            found["campaigns"] == account["campaigns"]
            and found["runs"] == account["runs"]
            and found["customers"] == account["customers"]
            and found["messages"] == account["messages"]
            and set(found["summary"]) == _loaded_runs(account["messages"])
        )
        return found if complete else None

    def progress() -> str:
        found = _warehouse(postgres_url) or {}
        counts = {k: len(v) for k, v in found.items()}
        return f"the account to land (warehouse now: {counts}); daemon log:\n" + _tail(daemon)

    found = wait_until(landed, timeout=DEADLINE_SECONDS, interval=2, message=progress)
    names = dict(account["campaigns"])
    for (campaign_id, run_id), (name, number) in found["summary"].items():
        assert name == names[campaign_id]
        assert number == account["runs"][(campaign_id, run_id)] and number is not None


def _loaded_runs(messages: Counter[tuple[str, str, str, str]]) -> set[tuple[str, str]]:
    return {(campaign_id, run_id) for campaign_id, run_id, _, _ in messages}


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]
