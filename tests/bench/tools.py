"""Finding the real tools the bench needs, and refusing to hide their absence in CI.

On a developer's machine without root a missing tool skips the test with a clear reason; in CI
(``CI`` set) a missing tool fails the test, because the suite must run everything there.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

from tests.bench.ci_strict import IN_CI

# Where built artefacts (the simulator binary, disk images) are cached between runs.
CACHE_DIR = os.environ.get(
    "VMRESTORE_BENCH_CACHE",
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".cache", "bench"),
)


def require_tool(name: str, package: str) -> str:
    """Return the path of ``name`` or skip/fail with the Debian package that provides it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if path:
        return path
    missing(f"{name} not found: install the Debian package {package} (scripts/install-system-deps.sh)")
    raise AssertionError("unreachable")


def missing(message: str) -> NoReturn:
    """Something the bench needs is not here: a failure in CI, a skip with the reason elsewhere."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
