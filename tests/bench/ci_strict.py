"""pytest plugin: in CI (``CI=true``) a skipped test is a failed test.

CI runs the whole suite on a machine that ``scripts/setup-tests.sh`` prepared, so every tool is
there: a skip can only hide a test that stopped running (a missing package, an ``importorskip`` that
no longer imports, a ``skip`` left in by mistake). Each skip, whether raised while collecting a module
or while running a test (``pytest.skip``, ``pytest.importorskip``, a ``skip``/``skipif`` mark), and
each expected failure (``xfail``) is reported as a failure with its reason, so the run exits non-zero.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

#: True when the run is CI's: ``scripts/run-tests.sh`` exports ``CI=true``.
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (file, line, "Skipped: why")
        return str(longrepr[2])
    return str(getattr(report, "wasxfail", "") or longrepr)


def _fail(report: Any) -> None:
    what = "an expected failure (xfail)" if hasattr(report, "wasxfail") else "a skip"
    report.outcome = "failed"
    report.longrepr = f"CI=true: {what} is a failure here, because CI must run every test: {_reason(report)}"
    if hasattr(report, "wasxfail"):
        del report.wasxfail


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and (report.skipped or hasattr(report, "wasxfail")):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        _fail(report)
