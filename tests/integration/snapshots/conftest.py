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


def make_services(sim: Vcsim, home: Path, *, role: str = "admin", user: str | None = None) -> AppServices:
    home.mkdir(parents=True, exist_ok=True)
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

    def make(sim: Vcsim, *, role: str = "admin", user: str | None = None) -> AppServices:
        services = make_services(sim, tmp_path / f"home{len(made)}", role=role, user=user)
        made.append(services)
        return services

    yield make
    for services in made:
        services.close()


def cli_env(sim: Vcsim, home: Path, *, role: str = "admin", user: str | None = None) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
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
