"""Suite-wide settings: Qt runs offscreen, and the bench fixtures are registered."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# ci_strict: with CI=true (scripts/run-tests.sh sets it) a skip fails the run.
# The bench: a real vSphere API server (vcsim) and real disk images, each in its own plugin module.
pytest_plugins = [
    "tests.bench.ci_strict", "tests.bench.vcsim_fixtures", "tests.bench.disk_fixtures", "tests.bench.postgres_fixtures",
]
