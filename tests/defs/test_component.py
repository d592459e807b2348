"""A data team's own dg project adds the connector with a defs.yaml; dg loads and lists it.

The project is written here file by file (as `dg scaffold project` would lay it out), next to
an asset of the team's own, and checked with the installed dagster-dg-cli.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from nudge_pipeline.defs.component import NudgescribeComponent, nudgescribe_defs
from tests.e2e.helpers import CONNECTOR_ASSETS

pytestmark = pytest.mark.slow

VENV = Path(sys.executable).parent.parent
DG = str(VENV / "bin" / "dg")

PYPROJECT = """\
[project]
name = "team-project"
version = "0.0.1"
requires-python = ">=3.11"
dependencies = ["nudge-pipeline"]

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "team_project"

[tool.dg.cli]
suppress_warnings = ["project_and_activated_venv_mismatch"]
"""

DEFINITIONS = """\
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""

TEAM_ASSET = """\
import dagster as dg


@dg.asset(deps=["messages"])
def weekly_engagement() -> None:
    \"\"\"The team's own asset, downstream of the connector's messages.\"\"\"
"""

DEFS_YAML = """\
type: nudge_pipeline.defs.component.NudgescribeComponent

attributes:
  lake_root: {lake}
  warehouse_url: duckdb:///{warehouse}
  publish_stages: [Published, Ready to Publish]
"""


def _project(root: Path) -> Path:
    project = root / "team-project"
    package = project / "team_project"
    component = package / "defs" / "nudgescribe"
    component.mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS)
    (package / "defs" / "__init__.py").write_text("")
    (package / "defs" / "team_assets.py").write_text(TEAM_ASSET)
    (component / "defs.yaml").write_text(
        DEFS_YAML.format(lake=root / "lake", warehouse=root / "warehouse.duckdb")
    )
    return project


def _dg(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUDGESCRIBE_", "NUDGE_"))}
    env.update(
        VIRTUAL_ENV=str(VENV),
        PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(project),
        DAGSTER_HOME=str(project.parent / "dagster_home"),
        NUDGESCRIBE_API_KEY="not-a-real-key",
    )
    (project.parent / "dagster_home").mkdir(exist_ok=True)
    (project.parent / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return subprocess.run(
        [DG, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_a_defs_yaml_brings_the_connector_into_a_teams_project(tmp_path: Path) -> None:
    project = _project(tmp_path)

    checked = _dg(project, "check", "defs")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]

    listed = _dg(project, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stdout[-3000:] + listed.stderr[-3000:]
    found = json.loads(listed.stdout[listed.stdout.index("{") :])
    assets = {a["asset_key"] for a in found["assets"]}
    assert CONNECTOR_ASSETS | {"weekly_engagement"} <= assets
    sensors = {s["name"] for s in found.get("sensors", [])}
    assert {"nudgescribe_discovery_sensor", "nudgescribe_automation"} <= sensors
    # The key is passed by variable name, never as a value.
    assert "not-a-real-key" not in listed.stdout

    components = _dg(project, "list", "components", "--json")
    assert components.returncode == 0, components.stdout[-3000:] + components.stderr[-3000:]
    assert "nudge_pipeline.defs.component.NudgescribeComponent" in components.stdout


def test_the_factory_and_the_component_wire_the_same_settings(tmp_path: Path) -> None:
    lake, url = str(tmp_path / "lake"), f"duckdb:///{tmp_path / 'w.duckdb'}"
    from_code = nudgescribe_defs(lake_root=lake, warehouse_url=url, publish_stages=["Published"])
    component = NudgescribeComponent(
        lake_root=lake, warehouse_url=url, publish_stages=["Published"]
    )
    from_yaml = dg.component_defs(component=component)
    for defs in (from_code, from_yaml):
        assert defs.resources is not None
        assert defs.resources["lake"].root == lake
        assert defs.resources["warehouse"].url == url
        assert defs.resources["nudgescribe"].allowed_stages() == ("Published",)
        keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
        assert keys >= CONNECTOR_ASSETS
