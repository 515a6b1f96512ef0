"""The Restore points page over the REAL app services and a REAL ghettoVCB repository built by the disk bench.

``make_services(repo_root)`` builds ``AppServices`` with the real composition root in ``tmp_path/home`` (the
catalog there too), adds the repository as "main" and, unless told otherwise, indexes it with the app's own
``catalog_index.index_disk`` (the worker-process entry point, called here in-process: a fixture has no loop
to run the scheduler on; the "Index now" test runs the real job through the real scheduler).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import until
from vmrestore.app.bootstrap import AppServices, build_services
from vmrestore.app.catalog_index import index_disk
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.catalog.layout import discover
from vmrestore.ui.restore import RestorePointsPage


def index_repository(services: AppServices, name: str = "main") -> None:
    repo = services.catalog.repository(name)
    store = services.catalog.store
    points = discover(repo.path, repo.name)
    store.upsert_points(points)
    for point in sorted((p for p in points if p.browsable), key=lambda p: (p.vm, p.created)):
        disks = []
        for number, disk in enumerate(point.disks):
            if disk.error:
                disks.append(disk)
                continue
            result = index_disk(services.catalog.location, point.id, str(Path(point.path) / disk.file),
                                f"disk{number}")
            assert result.errors == (), result.errors
            disks.append(dataclasses.replace(disk, volumes=result.volumes))
        store.upsert_points([dataclasses.replace(point, disks=tuple(disks))])


class ListSpy:
    """Records every ``catalog.list_dir`` the UI makes, then calls the real one."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.calls: list[tuple[str, str]] = []

    def __call__(self, point_id: str, path: str = "/") -> Any:
        self.calls.append((point_id, path))
        return self.real(point_id, path)


@pytest.fixture
def make_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., AppServices]]:
    monkeypatch.delenv("VMRESTORE_CATALOG", raising=False)
    monkeypatch.setenv("VMRESTORE_POLICY", str(tmp_path / "no-machine-policy.json"))
    built: list[AppServices] = []

    def make(repo_root: Path, *, index: bool = True) -> AppServices:
        services = build_services(str(tmp_path / "home"), secrets=MemorySecretStore())
        built.append(services)
        services.catalog.add_repository("main", str(repo_root), None)
        if index:
            index_repository(services)
        return services

    yield make
    for services in built:
        with contextlib.suppress(Exception):
            services.close()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    path = tmp_path / "restored"
    path.mkdir()
    return path


async def open_page(qtbot: Any, services: AppServices, out_dir: Path | None = None) -> RestorePointsPage:
    """The page, shown, with the folder picker answering ``out_dir``; waits for the first load."""
    picked: list[str] = []

    async def pick_folder(_parent: Any, start: str) -> str | None:
        picked.append(start)
        return str(out_dir) if out_dir is not None else None

    page = RestorePointsPage(services, pick_folder=pick_folder, default_target="")
    page.picked = picked  # type: ignore[attr-defined]
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    await until(lambda: page.reloads > 0, what="restore points")
    return page
