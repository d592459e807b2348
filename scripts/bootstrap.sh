#!/usr/bin/env bash
# Creates .venv and installs the pinned dependencies; quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi

if [ ! -x .venv/bin/python ]; then
  uv venv --quiet --python 3.11 .venv
fi

stamp=.venv/.requirements.sha256
want=$(cat requirements.lock pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  uv pip sync --quiet --compile-bytecode --python .venv/bin/python requirements.lock
  uv pip install --quiet --compile-bytecode --python .venv/bin/python --no-deps -e .
  echo "$want" > "$stamp"
fi

# Bytecode for the project's own modules (the installer compiled the rest): every process the
# demo and the tests start imports them, and may run where Python writes no bytecode itself.
.venv/bin/python -m compileall -q -j 0 nudge_pipeline tests >/dev/null
