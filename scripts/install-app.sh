#!/usr/bin/env bash
# Installs vmrestore for the current user on Debian/Ubuntu: the Qt system libraries, then a
# virtualenv in .venv with the app. Start it with .venv/bin/vmrestore afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh --runtime
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q .
echo "install-app: done; start with .venv/bin/vmrestore"
