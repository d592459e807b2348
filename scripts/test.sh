#!/usr/bin/env bash
# The whole suite: lint, format, types, then every test (slow ones included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# Two workers: most tests wait on subprocesses, sockets and databases, not on the CPU.
.venv/bin/pytest -n "${PYTEST_WORKERS:-2}" "$@"
