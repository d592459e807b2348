#!/usr/bin/env bash
# The demo: a seeded simulator, one full sync into data/lake and data/warehouse.duckdb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/nudge-pipeline demo "$@"
