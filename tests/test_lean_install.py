"""A production install (the wheel, no extras) has neither the simulator's server nor test tools.

It still loads the Dagster definitions and runs `nudge-pipeline check` against a simulator
that this test process starts from its own, complete environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nudge_pipeline.simulator import SimHandle

ROOT = Path(__file__).resolve().parents[1]
ABSENT = ("fastapi", "uvicorn", "pytest", "dagster_webserver")

pytestmark = pytest.mark.slow


def find_uv() -> str:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(found).is_file():
        pytest.skip("uv is not installed (scripts/bootstrap.sh installs it)")
    return found


def uv(*args: str, cwd: Path) -> None:
    """A uv command from its cache; from the package index only if the cache lacks something."""
    command = [find_uv(), *args]
    offline = subprocess.run([*command, "--offline"], cwd=cwd, capture_output=True, text=True)
    if offline.returncode != 0:
        online = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        assert online.returncode == 0, online.stderr


@pytest.fixture(scope="module")
def lean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("lean")
    uv("build", "--wheel", "--quiet", "--out-dir", str(work / "dist"), str(ROOT), cwd=work)
    (wheel,) = (work / "dist").glob("nudge_pipeline-*.whl")
    uv("venv", "--quiet", "--python", sys.executable, str(work / "venv"), cwd=work)
    python = work / "venv" / "bin" / "python"
    # The lock's versions, so the cache has them; no extras.
    uv(
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        "--constraint",
        str(ROOT / "requirements.lock"),
        str(wheel),
        cwd=work,
    )
    return work / "venv" / "bin"


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # The lean venv's bytecode is written by the first process that imports a module, so the
    # next ones do not compile Dagster again (the suite may run with PYTHONDONTWRITEBYTECODE).
    env = {k: v for k, v in (env or os.environ).items() if k != "PYTHONDONTWRITEBYTECODE"}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_wheel_installs_without_the_simulator_or_test_tools(lean_venv: Path) -> None:
    found = run(
        [
            str(lean_venv / "python"),
            "-c",
            "import importlib.util as u, sys; "
            "print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))",
            *ABSENT,
        ],
        cwd=lean_venv,
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == []
    loaded = run(
        [
            str(lean_venv / "python"),
            "-c",
            "import nudge_pipeline.definitions as d; print(len(list(d.defs.assets or [])))",
        ],
        cwd=lean_venv,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert int(loaded.stdout.strip()) > 0


def test_demo_without_the_simulator_extra_says_which_to_install(lean_venv: Path) -> None:
    result = run([str(lean_venv / "nudge-pipeline"), "demo"], cwd=lean_venv)
    assert result.returncode == 2
    assert "pip install 'nudge-pipeline[simulator]'" in result.stderr


def test_check_passes_from_the_lean_install(
    lean_venv: Path, make_simulator: Callable[..., SimHandle], tmp_path: Path
) -> None:
    sim = make_simulator()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUDGESCRIBE_", "NUDGE_"))}
    env.update(
        NUDGESCRIBE_BASE_URL=sim.base_url,
        NUDGESCRIBE_API_CODE=sim.account.api_code,
        NUDGESCRIBE_API_KEY=sim.account.api_key,
        NUDGESCRIBE_API_SECRET=sim.account.api_secret,
        NUDGE_LAKE_ROOT=str(tmp_path / "lake"),
        NUDGE_WAREHOUSE_URL=f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
    )
    result = run([str(lean_venv / "nudge-pipeline"), "check"], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("✓") for line in lines), result.stdout
