"""Secrets and PII: a full `nudge-pipeline sync` at DEBUG with faults, then every trace scanned.

The sync runs in a subprocess under umask 027, through a proxy that also plays a hostile
server: for one campaign it answers 401 with the caller's own authorization and
x-auth-context headers echoed in the message. Then:

- stdout and stderr (every log record, DEBUG included, and the failure lines),
- the Dagster event log, run tags and run config, read through the instance API, and every
  byte of DAGSTER_HOME,
- the lake's Parquet rows and footers and the warehouse's tables,

are searched for the api_key, api_secret, api_code, profile key and every bearer token the
client sent; the Dagster traces also for profile ciphertext and decrypted profile values.
The storage host must never have seen an auth header, and the lake and warehouse files must
carry the user's umask.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from nudge_pipeline.nudgescribe import decrypt_profile
from nudge_pipeline.simulator import SimHandle
from tests.e2e.helpers import client_for, sync_env
from tests.fixtures.simulator import small_world

from .scripted_server import Answer, Seen, TamperingProxy
from .sync_drill import lake_files

UMASK = 0o027
LIGHT_FAULTS = {
    "fault_5xx_rate": 0.03,
    "fault_429_rate": 0.03,
    "fault_drop_rate": 0.02,
    "fault_cut_body_rate": 0.08,
}
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")
CIPHERTEXT = re.compile(re.escape(b"enc:v1:"))

# The sync itself, with every logger at DEBUG (urllib3's request lines included).
DEBUG_SYNC = """
import logging
import nudge_pipeline.sync as engine
configure = engine.quiet_libraries
def debug_everywhere(verbose):
    configure(True)
    logging.getLogger().setLevel(logging.DEBUG)
    for name in ("nudge_pipeline", "dagster", "urllib3", "requests"):
        logging.getLogger(name).setLevel(logging.DEBUG)
engine.quiet_libraries = debug_everywhere
from nudge_pipeline.cli import app
app(prog_name="nudge-pipeline")
"""


@pytest.fixture
def hostile_proxy(make_simulator: Any) -> Iterator[tuple[SimHandle, TamperingProxy]]:
    world = small_world(
        campaigns_per_stage=2,
        messages_per_run=40,
        rows_per_file=15,
        customers_per_group=20,
        export_duration=0.1,
    )
    sim = make_simulator(**world, **LIGHT_FAULTS, retry_after_seconds=0, token_ttl=5)
    with TamperingProxy(sim.base_url) as proxy:
        yield sim, proxy


def profile_values(sim: SimHandle) -> tuple[set[bytes], set[bytes]]:
    """(ciphertexts, decrypted e-mail addresses and phone numbers) of the account."""
    ciphertexts: set[bytes] = set()
    plain: set[bytes] = set()
    key = sim.account.profile_key
    with client_for(sim) as client:
        for workspace in client.list_workspaces():
            for group in client.list_customer_groups(workspace.workspace_id):
                for _, page in client.iter_customer_pages(group.customer_group_id):
                    for customer in page:
                        raw = customer.extended_profile
                        for name, value in decrypt_profile(raw, key).items():
                            if isinstance(raw[name], str) and raw[name].startswith("enc:v1:"):
                                ciphertexts.add(raw[name].encode())
                                if "@" in str(value) or str(value).startswith("+"):
                                    plain.add(str(value).encode())
    assert ciphertexts and plain
    return ciphertexts, plain


def find(
    haystack: bytes, needles: set[bytes], patterns: tuple[re.Pattern[bytes], ...]
) -> list[str]:
    found = [n.decode(errors="replace")[:24] + "…" for n in needles if n and n in haystack]
    found += [f"pattern {p.pattern!r}" for p in patterns if p.search(haystack)]
    return found


def dagster_traces(home: Path) -> bytes:
    """Every event of every run (messages, metadata, errors), run tags and run config."""
    # The instance's storage is configured from DAGSTER_HOME, as for every Dagster command.
    with mock.patch.dict(os.environ, {"DAGSTER_HOME": str(home)}):
        instance = dg.DagsterInstance.from_config(str(home))
    try:
        chunks = []
        records = instance.get_run_records()
        assert records, "the sync recorded its runs"
        for record in records:
            run = record.dagster_run
            chunks.append(json.dumps([run.tags, run.run_config], default=str))
            chunks.extend(dg.serialize_value(entry) for entry in instance.all_logs(run.run_id))
        return "\n".join(chunks).encode()
    finally:
        instance.dispose()


def lake_contents(lake: Path) -> bytes:
    chunks = []
    for path in lake_files(lake):
        if path.suffix == ".parquet":
            parquet = pq.ParquetFile(path)
            chunks.append(repr(parquet.metadata.metadata).encode())
            chunks.append(json.dumps(parquet.read().to_pylist(), default=str).encode())
        else:
            chunks.append(path.read_bytes())
    return b"\n".join(chunks)


def warehouse_contents(database: Path) -> bytes:
    with duckdb.connect(str(database), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
        rows = [conn.execute(f'SELECT * FROM "{s}"."{t}"').fetchall() for s, t in tables]
    return json.dumps(rows, default=str).encode() + database.read_bytes()


@pytest.mark.slow
def test_a_debug_sync_with_faults_leaks_no_secret_anywhere(
    hostile_proxy: tuple[SimHandle, TamperingProxy], tmp_path: Path
) -> None:
    sim, proxy = hostile_proxy
    account = sim.account
    with client_for(sim) as client:
        victim = next(c for c in client.list_campaigns() if c.stage == "Published")

    def echo(_upstream: Answer, _body: Any) -> Answer:
        seen: Seen = proxy.requests[-1]
        leak = f"Missing required fields. You sent {seen.headers.get('authorization')} " + (
            f"with {seen.headers.get('x-auth-context')}"
        )
        return Answer.json({"message": leak}, status=401)

    proxy.tamper("POST /v1/messages/pages", echo, forward=False, campaign_id=victim.campaign_id)

    home, lake, database = tmp_path / "dagster_home", tmp_path / "lake", tmp_path / "wh.duckdb"
    env = sync_env(
        sim,
        tmp_path,
        f"duckdb:///{database}",
        NUDGESCRIBE_BASE_URL=proxy.url,
        NUDGESCRIBE_EXPORT_TYPE="url",
        NUDGE_EXPORT_SETTLE_SECONDS="0.5",
    )
    done = subprocess.run(
        [sys.executable, "-c", DEBUG_SYNC, "sync"],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
        umask=UMASK,
    )
    output = done.stdout + b"\n" + done.stderr

    # It really ran at DEBUG, met faults, and the hostile answer failed its runs only.
    assert b"DEBUG" in done.stderr and b"urllib3" in done.stderr
    assert sim.stats()["faults_injected"], "the sync met injected faults"
    assert done.returncode == 1, output.decode(errors="replace")[-3000:]
    failure_lines = [line for line in done.stderr.splitlines() if line.startswith(b"error: ")]
    assert len(failure_lines) == 1, failure_lines
    assert b"Missing required fields." in failure_lines[0]
    assert b"[REDACTED]" in failure_lines[0], "the echoed credentials were scrubbed"
    assert proxy.calls("POST /v1/messages/pages", campaign_id=victim.campaign_id) >= 1
    assert victim.campaign_id.encode() in failure_lines[0]

    tokens = {
        s.headers["authorization"].removeprefix("Bearer ").encode()
        for s in proxy.requests
        if s.headers.get("authorization", "").startswith("Bearer ")
    }
    assert tokens, "the client authenticated through the proxy"
    credentials = {
        account.api_key.encode(),
        account.api_secret.encode(),
        account.api_code.encode(),
        account.profile_key.encode(),
        *tokens,
    }
    ciphertexts, plain_values = profile_values(sim)

    # Logs, exception texts and the Dagster instance: no credential, no profile value.
    traces = dagster_traces(home)
    assert b"Missing required fields." in traces, "the failure reached the event log"
    home_bytes = b"\n".join(p.read_bytes() for p in lake_files(home))
    for name, haystack in (("output", output), ("event log", traces), ("home", home_bytes)):
        leaks = find(haystack, credentials | ciphertexts | plain_values, (JWT, CIPHERTEXT))
        assert not leaks, f"{name} holds {leaks}"

    # The lake and the warehouse hold the data (ciphertext as received, by design), never
    # a credential.
    for name, haystack in (
        ("lake", lake_contents(lake)),
        ("warehouse", warehouse_contents(database)),
    ):
        leaks = find(haystack, credentials, (JWT,))
        assert not leaks, f"{name} holds {leaks}"

    # Pre-signed downloads carried no Nudgescribe header to the storage host.
    stats = sim.stats()
    assert stats["calls"].get("GET /storage", 0) > 0
    assert not stats["storage_auth_header_seen"], stats["storage_auth_headers"]

    # Every file and folder we created follows the umask: no group write, nothing for others.
    created = [*lake_files(lake), *lake_files(database.parent)]
    folders = {p.parent for p in lake_files(lake)} | {lake}
    assert created
    for path in [*created, *folders]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & UMASK == 0, f"{path} has mode {mode:o} under umask {UMASK:o}"
    for path in created:
        if path.is_relative_to(lake) or path == database:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == 0o640, f"{path} has mode {mode:o}; the umask gives 640"
