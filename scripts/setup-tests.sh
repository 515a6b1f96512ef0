#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian/Ubuntu machine:
# system packages (Go + govmomi source for the simulator, disk tools, Qt/Xvfb libraries)
# and a virtualenv in .venv with vmrestore and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
# The real Inno Setup compiler (ISCC.exe, run under Wine by tests/installer), from the npm registry into the
# repository's .cache (ignored by git), pinned: the installer tests read it from there.
if [ ! -f .cache/innosetup/node_modules/innosetup/bin/ISCC.exe ]; then
  npm install --silent --no-audit --no-fund --prefix .cache/innosetup innosetup@6.4.1 >/dev/null
fi
echo "setup-tests: ready ($(.venv/bin/python --version))"
