"""Helpers for the vSphere adapter's integration tests."""

from __future__ import annotations

from tests.bench.vcsim_fixtures import Vcsim
from vmrestore.vsphere.session import ConnectSpec, VsphereSession
from vmrestore.vsphere.trust import KnownHosts


def spec_for(sim: Vcsim, **overrides: object) -> ConnectSpec:
    """A ConnectSpec pinned to the simulator's certificate unless overridden."""
    values: dict[str, object] = {
        "url": sim.url,
        "username": sim.username,
        "password": sim.password,
        "thumbprint": sim.thumbprint,
    }
    values.update(overrides)
    return ConnectSpec(**values)  # type: ignore[arg-type]


def open_pinned(sim: Vcsim, known_hosts: KnownHosts, **overrides: object) -> VsphereSession:
    return VsphereSession.open(spec_for(sim, **overrides), known_hosts)


def count(sim: Vcsim, method: str, since: int = 0) -> int:
    """How many ``method`` requests the simulator received after the first ``since`` requests."""
    return sum(1 for r in sim.requests()[since:] if r["method"] == method)
