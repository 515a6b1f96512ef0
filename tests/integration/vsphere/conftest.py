"""Fixtures shared by the vSphere adapter's integration tests (the simulator comes from the bench plugin)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmrestore.vsphere.trust import KnownHosts


@pytest.fixture
def known_hosts(tmp_path: Path) -> KnownHosts:
    return KnownHosts(str(tmp_path / "known_hosts.json"))
