"""The package uses Dagster's public API only: no import of a private `dagster._…` module."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nudge_pipeline"
PRIVATE = re.compile(r"^\s*(from|import)\s+dagster(_[a-z]+)*\._", re.MULTILINE)
DYNAMIC = re.compile(r"""import_module\(\s*["']dagster(_[a-z]+)*\._""")


def test_no_module_of_the_package_imports_a_private_dagster_module() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 50, "the scan must see the whole package"
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}: {match.group(0).strip()}"
        for path in sources
        for pattern in (PRIVATE, DYNAMIC)
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_scan_would_see_a_private_import() -> None:
    assert PRIVATE.search("from dagster._core.storage import x")
    assert PRIVATE.search("    import dagster_dg_core._utils")
    assert not PRIVATE.search("import dagster as dg")
