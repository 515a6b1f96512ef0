#!/usr/bin/env bash
# Runs the code-health checks and the whole test suite. Exits non-zero on any failure.
# This is README block (b) and what CI runs (.ci/run), so it sets CI=true itself: every skip (a missing
# tool, an importorskip, a skip mark) and every xfail then fails the run (tests/bench/ci_strict.py).
# setup-tests.sh installed everything, so nothing has a reason to skip. To let a test skip on a partial
# machine, run pytest directly instead.
set -uo pipefail
cd "$(dirname "$0")/.."
export CI=true
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
status=0
echo "== ruff"; .venv/bin/ruff check vmrestore tests benchmarks || status=1
echo "== mypy"; .venv/bin/mypy vmrestore || status=1
echo "== import-linter"; .venv/bin/lint-imports || status=1
echo "== pytest"; .venv/bin/python -m pytest "$@"; rc=$?
# pytest's exit 5 means "no tests collected": that is a failure here, not a pass.
[ $rc -ne 0 ] && status=1
exit $status
