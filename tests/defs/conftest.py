"""Resources pointing the definitions at a simulator, a temporary lake and a DuckDB file."""

from pathlib import Path
from typing import Any

import pytest

from nudge_pipeline.defs.resources import LakeResource, NudgescribeResource, WarehouseResource
from nudge_pipeline.landing.discovery import Discovery, discover
from nudge_pipeline.simulator import SimHandle


def resources_for(
    sim: SimHandle, tmp_path: Path, publish_stages: str = "Published"
) -> dict[str, Any]:
    account = sim.account
    return {
        "nudgescribe": NudgescribeResource(
            base_url=sim.base_url,
            api_code=account.api_code,
            api_key=account.api_key,
            api_secret=account.api_secret,
            profile_key=account.profile_key,
            publish_stages=publish_stages,
            parallel_downloads=3,
        ),
        "lake": LakeResource(root=str(tmp_path / "lake")),
        "warehouse": WarehouseResource(url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}"),
    }


@pytest.fixture
def resources_factory(tmp_path: Path) -> Any:
    def build(sim: SimHandle, publish_stages: str = "Published") -> dict[str, Any]:
        return resources_for(sim, tmp_path, publish_stages)

    return build


def discover_with(resources: dict[str, Any]) -> Discovery:
    """What the account holds, as the definitions' resources see it."""
    api = resources["nudgescribe"]
    with api.client() as client:
        return discover(client, api.allowed_stages())
