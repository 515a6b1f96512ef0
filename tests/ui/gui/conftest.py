"""The whole main window over the REAL app services (composition root) in a temp home, no vCenter."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from tests.ui.conftest import until
from vmrestore.app.bootstrap import AppServices, build_services
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.ui.main_window import MainWindow
from vmrestore.ui.pages import default_area_pages


@pytest.fixture
def real_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., AppServices]]:
    monkeypatch.delenv("VMRESTORE_CATALOG", raising=False)
    built: list[AppServices] = []

    def make(*, role: str | None = None) -> AppServices:
        policy = tmp_path / "policy.json"
        if role is not None:
            policy.write_text(f'{{"role": "{role}"}}')
        monkeypatch.setenv("VMRESTORE_POLICY", str(policy))
        services = build_services(str(tmp_path / "home"), secrets=MemorySecretStore())
        built.append(services)
        return services

    yield make
    for services in built:
        with contextlib.suppress(Exception):
            services.close()


async def open_window(qtbot: Any, services: AppServices, tmp_path: Path, size: tuple[int, int] = (1024, 700)
                      ) -> MainWindow:
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(services, settings, area_pages=default_area_pages(services))
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    window.activateWindow()
    await until(window.isActiveWindow, what="the window to be active")
    return window
