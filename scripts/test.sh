#!/usr/bin/env bash
# The whole suite: lint, format, types, then every test (slow ones included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# Three workers on two cores: most tests wait on subprocesses, sockets and databases, not on
# the CPU. worksteal: the few long scenarios do not leave one worker with a queue behind them.
.venv/bin/pytest -n "${PYTEST_WORKERS:-3}" --dist worksteal "$@"
