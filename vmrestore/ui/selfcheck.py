"""The Qt half of ``vmrestore --self-check``: Qt loads, and the main window opens and closes offscreen.

It builds the real ``MainWindow`` over the real services on a qasync loop, as ``run_gui`` does, shows it on
the offscreen platform (so it works in a service session, over SSH and in CI), lets the pages start, then
closes it as a user would and waits for ``closed``. UI state goes to a throw-away QSettings file, so the
check never changes the user's saved window layout. The start-up sweep is not run: a check changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import PySide6
import qasync
from PySide6.QtCore import QMessageLogContext, QSettings, QtMsgType, qInstallMessageHandler, qVersion
from PySide6.QtWidgets import QApplication

from .icons import app_icon
from .main_window import MainWindow
from .pages import default_area_pages
from .qtcompat import guard_singleton_refcounts


def qt_versions() -> dict[str, str]:
    return {"qt": qVersion(), "pyside6": PySide6.__version__}


def check_main_window(services: Any, timeout: float = 20.0) -> str:
    """Open and close the main window offscreen; returns what it saw, raises if anything is wrong."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    guard_singleton_refcounts()
    qInstallMessageHandler(_quiet_offscreen)
    app = QApplication.instance() or QApplication(["vmrestore"])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with tempfile.TemporaryDirectory(prefix="vmrestore-selfcheck-") as tmp, loop:
            settings = QSettings(str(Path(tmp) / "ui.ini"), QSettings.Format.IniFormat)
            seen: str = loop.run_until_complete(asyncio.wait_for(_open_and_close(app, services, settings), timeout))
            return seen
    finally:
        asyncio.set_event_loop(None)


def _quiet_offscreen(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    """Drop the offscreen plugin's harmless note (as pytest's qt_log_ignore does); print the rest to stderr."""
    if "does not support propagateSizeHints" not in message:
        print(f"qt: {message}", file=sys.stderr)


async def _open_and_close(app: QApplication, services: Any, settings: QSettings) -> str:
    window = MainWindow(services, settings, area_pages=default_area_pages(services))
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_closed() -> None:
        if not closed.done():
            closed.set_result(None)

    window.closed.connect(on_closed)
    window.show()
    await asyncio.sleep(0.3)  # let the pages start their first loads, as at a real start
    if not window.isVisible():
        raise RuntimeError("the main window did not show")
    if app_icon().isNull():
        raise RuntimeError("the application icon did not load")
    areas = [window.nav.item(row).text() for row in range(window.nav.count())]
    missing_icons = [text for row, text in enumerate(areas) if window.nav.item(row).icon().isNull()]
    if missing_icons:
        raise RuntimeError(f"areas without an icon: {', '.join(missing_icons)}")
    window.close()
    await closed
    window.deleteLater()
    return f"platform {app.platformName()}, {len(areas)} areas ({', '.join(areas)}), opened and closed"
