"""UI tests: widgets driven by pytest-qt on a qasync loop (the asyncio loop *is* the Qt loop, as in the app).

Async tests run on a ``qasync.QEventLoop`` through pytest-asyncio's loop-factory hook. Inside such a test,
wait with ``await until(...)`` (asyncio sleeps that let Qt and the tasks run), not with ``qtbot.waitUntil``:
a nested Qt event loop inside the running test task would try to step other tasks in the middle of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from tests.ui.fakes import FakeConnection, FakeServices
from vmrestore.ui.qtcompat import guard_singleton_refcounts

# As run_gui does first: without it PySide6 6.12.0 on Python 3.11 aborts the test process after a few
# hundred signal emits ("Fatal Python error: bool_dealloc"); see vmrestore/ui/qtcompat.py.
guard_singleton_refcounts()


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    def factory() -> asyncio.AbstractEventLoop:
        app = QApplication.instance() or QApplication([])
        # As in run_gui: closing the last window must not stop the Qt loop under a running test task.
        app.setQuitOnLastWindowClosed(False)
        return qasync.QEventLoop(app)

    return {"qasync": factory}


async def until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    """Let the loop run until ``condition()`` is true, or fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def ui_settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    """The real engine pieces (state store, journal, scheduler, audit log) in ``tmp_path``."""
    from tests.ui.fakes import RealEngine

    real = RealEngine(tmp_path / "home")
    yield real
    with contextlib.suppress(Exception):
        real.close()


@pytest.fixture
def connection() -> FakeConnection:
    return FakeConnection()


@pytest.fixture
def services(tmp_path: Path, engine: Any, connection: FakeConnection) -> FakeServices:
    return FakeServices(tmp_path / "home", engine, connection)
