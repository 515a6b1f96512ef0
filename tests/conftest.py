"""Suite-wide settings: Qt runs offscreen, and the bench fixtures are registered."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# ci_strict: with CI=true (scripts/run-tests.sh sets it) a skip fails the run.
# The bench: a real vSphere API server (vcsim) and real disk images, each in its own plugin module.
pytest_plugins = [
    "tests.bench.ci_strict", "tests.bench.vcsim_fixtures", "tests.bench.disk_fixtures", "tests.bench.postgres_fixtures",
    "tests.bench.postgres_auth",
]


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A test that runs the CLI in-process installs the app's log handlers on the root logger (one of them on
    pytest's captured stderr, closed when that test ends). Put the root logger back after every test, so a later
    test never writes to another test's closed stream or finds the app's logging 'already set up'."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _garbage_collected_on_the_main_thread() -> Iterator[None]:
    """Collect each test's reference cycles on the main thread as it ends. A qasync loop or a Qt object left in
    a cycle is otherwise freed whenever the collector next runs, possibly in a worker thread of a later test,
    and Qt then warns "Timers cannot be stopped from another thread", which fails that unrelated test
    (seen in tests/unit/engine/test_scheduler.py when it ran after the integration tests)."""
    yield
    gc.collect()
