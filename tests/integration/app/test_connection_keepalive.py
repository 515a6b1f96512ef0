"""The connection keeps its vCenter session alive while it sits idle (issue 15 §4).

Against the simulator with a one-second ``SessionIdleTimeout``: an idle connection without keepalive
loses its session (the next call logs in again); with the connection's keepalive scheduled, the cheap
``CurrentTime`` call arrives while idle, no second ``Login`` is ever needed, and it stops on disconnect.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import Vcsim, VcsimFactory
from vmrestore.app.connection import ConnectionService
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.vsphere import inventory
from vmrestore.vsphere.trust import KnownHosts

pytestmark = pytest.mark.vcsim

IDLE_TIMEOUT = 1.0
IDLE_FOR = 3.5  # the simulator checks idleness once per timeout period: > 2 periods expires for sure


def _connect(sim: Vcsim, tmp_path: Path, keepalive: float) -> ConnectionService:
    service = ConnectionService(KnownHosts(str(tmp_path / "known_hosts.json")), MemorySecretStore(),
                                keepalive_seconds=keepalive)
    service.open_blocking(sim.url, sim.username, sim.password, thumbprint=sim.thumbprint)
    return service


def test_idle_connection_keeps_its_session(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    sim = vcsim_factory(session_idle_timeout=IDLE_TIMEOUT)
    service = _connect(sim, tmp_path, keepalive=0.3)
    try:
        assert sim.methods().count("Login") == 1
        time.sleep(IDLE_FOR)
        assert sim.methods().count("CurrentTime") >= 5  # every ~0.3 s while idle
        assert len(inventory.list_vms(service.session)) == 2
        assert sim.methods().count("Login") == 1, "the session expired although it was kept alive"
    finally:
        service.close_blocking()
    after_close = sim.methods().count("CurrentTime")
    time.sleep(1.0)
    assert sim.methods().count("CurrentTime") == after_close  # stopped with the session


def test_without_keepalive_the_idle_session_expires(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    """The control: the same idle time with keepalive off costs a second login (the test above can fail)."""
    sim = vcsim_factory(session_idle_timeout=IDLE_TIMEOUT)
    service = _connect(sim, tmp_path, keepalive=0)
    try:
        time.sleep(IDLE_FOR)
        assert "CurrentTime" not in sim.methods()
        assert len(inventory.list_vms(service.session)) == 2
        assert sim.methods().count("Login") == 2
    finally:
        service.close_blocking()


def test_busy_session_sends_no_keepalive(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    """Only idleness triggers it: a session in use every 0.1 s needs no extra call."""
    sim = vcsim_factory()
    service = _connect(sim, tmp_path, keepalive=0.5)
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            inventory.list_vms(service.session)
            time.sleep(0.1)
        assert "CurrentTime" not in sim.methods()
    finally:
        service.close_blocking()
