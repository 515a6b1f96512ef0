#!/usr/bin/env bash
# Runs the code-health checks and the whole test suite. Exits non-zero on any failure.
# In CI (CI=true) a missing tool is a failure, never a skip (tests/conftest.py enforces it).
set -uo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
status=0
echo "== ruff"; .venv/bin/ruff check vmrestore tests benchmarks || status=1
echo "== mypy"; .venv/bin/mypy vmrestore || status=1
echo "== import-linter"; .venv/bin/lint-imports || status=1
echo "== pytest"; .venv/bin/python -m pytest "$@"; rc=$?
# pytest's exit 5 means "no tests collected": that is a failure here, not a pass.
[ $rc -ne 0 ] && status=1
exit $status
