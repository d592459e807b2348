"""A thin requests wrapper for talking to the simulator exactly as the contract describes."""

from __future__ import annotations

import json
from typing import Any

import requests

from nudge_pipeline.simulator import SimAccount, SimHandle
from tests.fixtures.waiting import wait_until


def error_of(response: requests.Response) -> tuple[int, str]:
    """An error answer as (status, the contract's `message`)."""
    return response.status_code, response.json()["message"]


def context_header(api_code: str, api_access: bool = True) -> str:
    return json.dumps({"api_access": api_access, "api_code": api_code})


class Api:
    def __init__(self, sim: SimHandle, account: SimAccount | None = None) -> None:
        self.sim = sim
        self.account = account or sim.account
        self.http = requests.Session()
        self.http.trust_env = False
        self.token = self.login()

    def base_headers(self) -> dict[str, str]:
        return {"x-auth-context": context_header(self.sim.api_code), "x-ip": "127.0.0.1"}

    def headers(self) -> dict[str, str]:
        return self.base_headers() | {"authorization": f"Bearer {self.token}"}

    def login(self) -> str:
        response = self.http.post(
            f"{self.sim.base_url}/v1/auth",
            json={"api_key": self.account.api_key, "api_secret": self.account.api_secret},
            headers=self.base_headers(),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> requests.Response:
        return self.http.request(
            method,
            f"{self.sim.base_url}{path}",
            json=body,
            headers=self.headers() if headers is None else headers,
            timeout=30,
            **kw,
        )

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.call("POST", path, {} if body is None else body, **kw)

    def ok(self, path: str, body: Any = None, method: str = "POST") -> Any:
        response = self.call(method, path, {} if body is None else body)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    # Convenience over the seeded world.
    def campaigns(self) -> list[dict[str, Any]]:
        return [c for ws in self.ok("/v1/campaign/all") for c in ws["campaigns"]]

    def campaign(self, stage: str) -> dict[str, Any]:
        return next(c for c in self.campaigns() if c["stage"] == stage)

    def runs(self, campaign_id: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.ok(
            "/v1/campaign/rerun/history", {"campaign_id": campaign_id}
        )
        return runs

    def completed_runs(self) -> list[tuple[str, str]]:
        return [
            (c["campaign_id"], r["run_id"])
            for c in self.campaigns()
            for r in self.runs(c["campaign_id"])
            if r["status"] == "completed"
        ]

    def publish_and_wait(self, campaign_id: str, run_id: str) -> dict[str, Any]:
        target = {"campaign_id": campaign_id, "run_id": run_id}
        self.ok("/v1/messages/publish", target)

        def completed_pages() -> dict[str, Any] | None:
            pages = self.ok("/v1/messages/pages", target)
            return dict(pages) if pages.get("status") == "completed" else None

        return wait_until(completed_pages, timeout=30, message=f"the export of {run_id}")

    def fetch(
        self, campaign_id: str, run_id: str, file_num: int, export_type: str = "utf8", **kw: Any
    ) -> requests.Response:
        body = {
            "campaign_id": campaign_id,
            "run_id": run_id,
            "file_num": file_num,
            "export_type": export_type,
        }
        return self.post("/v1/messages/fetch", body, **kw)
