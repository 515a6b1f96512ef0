"""Fixtures for the snapshot monitor's integration tests: app services logged in to a real simulator."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import Vcsim
from vmrestore.app.bootstrap import AppServices, build_services
from vmrestore.app.secrets import MemorySecretStore


# The simulator's snapshots are seconds old: the cleanup's "younger than 24 h" guard would hold every one
# back. Tests turn it off (0) unless they test the guard itself (then they pass min_age_hours).
def write_settings(home: Path, min_age_hours: float) -> None:
    (home / "settings.json").write_text(json.dumps({"snapshot_cleanup_min_age_hours": min_age_hours}))


def make_services(sim: Vcsim, home: Path, *, role: str = "admin", user: str | None = None,
                  min_age_hours: float = 0) -> AppServices:
    home.mkdir(parents=True, exist_ok=True)
    write_settings(home, min_age_hours)
    policy = home / "policy.json"
    policy.write_text(json.dumps({"role": role}))
    old = os.environ.get("VMRESTORE_POLICY")
    os.environ["VMRESTORE_POLICY"] = str(policy)
    try:
        services = build_services(str(home), secrets=MemorySecretStore())
    finally:
        if old is None:
            os.environ.pop("VMRESTORE_POLICY", None)
        else:
            os.environ["VMRESTORE_POLICY"] = old
    services.connection.open_blocking(sim.url, user or sim.username, sim.password, thumbprint=sim.thumbprint)
    return services


@pytest.fixture
def services_for(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    made: list[AppServices] = []

    def make(sim: Vcsim, *, role: str = "admin", user: str | None = None, min_age_hours: float = 0) -> AppServices:
        services = make_services(sim, tmp_path / f"home{len(made)}", role=role, user=user,
                                 min_age_hours=min_age_hours)
        made.append(services)
        return services

    yield make
    for services in made:
        services.close()


def cli_env(sim: Vcsim, home: Path, *, role: str = "admin", user: str | None = None,
            min_age_hours: float = 0) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    write_settings(home, min_age_hours)
    policy = home / "policy.json"
    policy.write_text(json.dumps({"role": role}))
    return {
        **os.environ,
        "VMRESTORE_HOME": str(home),
        "VMRESTORE_POLICY": str(policy),
        "VMRESTORE_URL": sim.url,
        "VMRESTORE_USERNAME": user or sim.username,
        "VMRESTORE_PASSWORD": sim.password,
        "VMRESTORE_THUMBPRINT": sim.thumbprint,
    }
