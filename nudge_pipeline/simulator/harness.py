"""Start the simulator in a subprocess on free loopback ports, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from nudge_pipeline.simulator.config import SimConfig

READY_TIMEOUT_SECONDS = 60.0


class SimulatorError(RuntimeError):
    pass


@dataclass(frozen=True)
class SimAccount:
    account_id: str
    api_key: str
    api_secret: str = field(repr=False)
    api_code: str = field(repr=False)
    profile_key: str = field(repr=False)


@dataclass
class SimHandle:
    base_url: str
    storage_url: str
    api_code: str
    account: SimAccount
    other_account: SimAccount
    config: SimConfig
    data_dir: Path
    process: subprocess.Popen[bytes]
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/__sim{path}", json=body, timeout=30
        )
        if response.status_code >= 400:
            raise SimulatorError(f"{method} /__sim{path}: {response.status_code} {response.text}")
        return response.json()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._admin("GET", "/stats")
        return stats

    def reset_stats(self, *, quota: bool = False) -> None:
        self._admin("POST", "/reset-stats", {"quota": quota})

    def configure(self, **changes: Any) -> SimConfig:
        config = SimConfig.from_dict(self._admin("POST", "/config", changes))
        self.config = config
        return config

    def add_run(
        self, campaign_id: str, *, message_count: int | None = None, status: str = "completed"
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"campaign_id": campaign_id, "status": status}
        if message_count is not None:
            body["message_count"] = message_count
        run: dict[str, Any] = self._admin("POST", "/runs", body)
        return run

    def delete_campaign(self, campaign_id: str) -> None:
        self._admin("DELETE", f"/campaigns/{campaign_id}")

    def update_campaign(self, campaign_id: str, **fields: str) -> dict[str, Any]:
        campaign: dict[str, Any] = self._admin("PATCH", f"/campaigns/{campaign_id}", fields)
        return campaign

    def mint_token(self, account: SimAccount | None = None, ttl: float | None = None) -> str:
        body: dict[str, Any] = {"account_id": (account or self.account).account_id}
        if ttl is not None:
            body["ttl"] = ttl
        token: str = self._admin("POST", "/token", body)["token"]
        return token

    def close(self) -> None:
        self.session.close()
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    # Killed, not asked: the simulator keeps nothing worth a graceful stop (its data folder
    # is the caller's), and uvicorn's orderly shutdown took 0.4 s of every test's teardown.
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def _account(info: dict[str, Any], api_code: str) -> SimAccount:
    return SimAccount(
        account_id=info["account_id"],
        api_key=info["api_key"],
        api_secret=info["api_secret"],
        api_code=api_code,
        profile_key=info["profile_key"],
    )


def _wait_ready(
    process: subprocess.Popen[bytes], ready_file: Path, log_file: Path
) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if ready_file.exists():
            info: dict[str, Any] = json.loads(ready_file.read_text())
            return info
        if process.poll() is not None:
            raise SimulatorError(
                f"simulator exited with {process.returncode}:\n{log_file.read_text()}"
            )
        time.sleep(0.02)
    stop_process(process)
    raise SimulatorError("simulator did not become ready in time")


@contextlib.contextmanager
def run_simulator(
    config: SimConfig | None = None, data_dir: Path | None = None
) -> Iterator[SimHandle]:
    config = config or SimConfig()
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nudgesim-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        control = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nudgesim-ctl-")))
        config_file, ready_file, log_file = (
            control / n for n in ("config.json", "ready.json", "log")
        )
        config_file.write_text(config.to_json())
        with open(log_file, "wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "nudge_pipeline.simulator",
                    "--config-file",
                    str(config_file),
                    "--data-dir",
                    str(data_dir),
                    "--ready-file",
                    str(ready_file),
                ],  # fmt: skip
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        stack.callback(stop_process, process)
        info = _wait_ready(process, ready_file, log_file)
        api_code = info["api_code"]
        handle = SimHandle(
            base_url=info["base_url"],
            storage_url=info["storage_url"],
            api_code=api_code,
            account=_account(info["accounts"][0], api_code),
            other_account=_account(info["accounts"][1], api_code),
            config=config,
            data_dir=data_dir,
            process=process,
        )
        stack.callback(handle.close)
        yield handle
