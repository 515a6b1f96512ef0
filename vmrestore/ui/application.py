"""Starting the desktop app: QApplication + qasync loop, services built off the Qt thread, sweep, window.

``run_gui(services_factory)`` is what ``vmrestore`` / ``vmrestore gui`` calls. The composition root passes a
factory (``vmrestore.app.bootstrap.build_services``); this module never looks services up itself. Logging
(the rotating file) is set up by the app layer when it builds the services.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QInputDialog, QLineEdit, QMessageBox, QSystemTrayIcon

import vmrestore
from vmrestore.errors import CatalogPasswordRequired

from .errors import describe, show_error
from .icons import app_icon
from .main_window import MainWindow
from .pages import default_area_pages, snapshot_watch
from .ports import ServicesLike
from .qtcompat import guard_singleton_refcounts
from .tasks import ask
from .theme import apply_theme

log = logging.getLogger(__name__)

ServicesFactory = Callable[[], ServicesLike]
CATALOG_PASSWORD_TRIES = 3
ReadyHook = Callable[[MainWindow], Awaitable[None]]


def run_gui(
    services_factory: ServicesFactory,
    argv: Sequence[str] | None = None,
    *,
    on_ready: ReadyHook | None = None,
) -> int:
    """Run the desktop app until its window closes; returns the process exit code.

    ``on_ready`` (for scripts/screenshot.py and smoke tests) is awaited once the window is shown and the
    start-up sweep has run; closing the window from it ends the app as a user would.
    """
    guard_singleton_refcounts()  # before the first signal: see qtcompat (PySide6 6.12.0 on Python 3.11)
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication(list(argv) if argv is not None else sys.argv)
    app.setApplicationName("vmrestore")
    app.setOrganizationName("vmrestore")
    app.setApplicationVersion(vmrestore.__version__)
    app.setApplicationDisplayName("vmrestore")
    apply_theme(app)
    app.setWindowIcon(app_icon())
    return run_app(app, services_factory, on_ready=on_ready)


def run_app(app: QApplication, services_factory: ServicesFactory, *, on_ready: ReadyHook | None = None) -> int:
    """Run the app on an existing QApplication (``run_gui`` creates it; tests pass pytest-qt's)."""
    app.setQuitOnLastWindowClosed(False)  # the loop ends when _main() returns, after services.aclose()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    _log_unexpected_errors(loop)
    try:
        with loop:
            code: int = loop.run_until_complete(_main(app, services_factory, on_ready))
            return code
    finally:
        asyncio.set_event_loop(None)


async def _main(app: QApplication, services_factory: ServicesFactory, on_ready: ReadyHook | None) -> int:
    loop = asyncio.get_running_loop()
    try:
        services = await _build(loop, services_factory)
    except Exception as exc:
        log.exception("Could not start vmrestore")
        described = describe(exc)
        box = QMessageBox(QMessageBox.Icon.Critical, "vmrestore could not start", described.text)
        await ask(box)
        return 1

    try:
        return await _run_window(app, services, on_ready)
    finally:
        try:
            await services.aclose()
        except Exception:
            log.exception("Closing the services failed")


async def _build(loop: asyncio.AbstractEventLoop, services_factory: ServicesFactory) -> ServicesLike:
    """Build the services off the Qt thread (databases, settings); when the shared catalog wants a password the
    keyring does not have, ask for it (up to three times) and build again: it is kept for this session only."""
    for _ in range(CATALOG_PASSWORD_TRIES):
        try:
            return await loop.run_in_executor(None, services_factory)
        except CatalogPasswordRequired as exc:
            if exc.supply is None:
                raise
            typed = await ask_catalog_password(exc)
            if typed is None:
                raise
            exc.supply(typed)
    return await loop.run_in_executor(None, services_factory)


async def ask_catalog_password(exc: CatalogPasswordRequired) -> str | None:
    """The password dialog (``None``: cancelled or left empty)."""
    dialog = QInputDialog()
    dialog.setObjectName("catalogPasswordPrompt")
    dialog.setAccessibleName("Shared catalog password")
    dialog.setWindowTitle("Shared catalog password")
    dialog.setLabelText(
        ("The catalog server refused that password.\n\n" if exc.wrong else "")
        + f"The shared catalog {exc.where} needs a password, and none is saved on this computer. It is kept for "
        "this session only: vmrestore asks for it again at the next start (unless it is saved in Settings › "
        "Catalog on a computer with a password store).")
    dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
    if await ask(dialog) != QDialog.DialogCode.Accepted:
        return None
    return dialog.textValue() or None


async def _run_window(app: QApplication, services: ServicesLike, on_ready: ReadyHook | None) -> int:
    loop = asyncio.get_running_loop()
    log.info("vmrestore %s started; data folder %s", vmrestore.__version__, services.paths.home)
    apply_theme(app, getattr(services.settings, "appearance", None))
    settings = QSettings(str(Path(services.paths.home) / "ui.ini"), QSettings.Format.IniFormat)
    tray = _make_tray(app)
    window = MainWindow(services, settings, tray=tray, area_pages=default_area_pages(services))
    closed: asyncio.Future[None] = loop.create_future()

    def on_closed() -> None:
        if not closed.done():
            closed.set_result(None)

    window.closed.connect(on_closed)
    window.show()
    watch = snapshot_watch(services, tray, window)  # off unless settings.snapshot_watch_minutes > 0

    try:
        result = await services.sweep()
    except Exception as exc:
        log.exception("The start-up sweep failed")
        show_error(window, exc, context="The start-up check for leftovers of earlier runs failed.")
    else:
        window.show_sweep_result(result)

    # Everything alive now (modules, Qt wrappers, the services) lives as long as the window: move it out of
    # the collector's reach while the window is open. A full collection holds the GIL; during a 10,000-VM scan
    # one walked these ~110,000 start-up objects beside the scan's own and stalled the Qt thread for 261 ms
    # (benchmarks/gui_load.py). Unfrozen when the window closes, so what they leave behind is collected.
    gc.freeze()
    try:
        await window.tools.maybe_first_run()
        if on_ready is not None:
            await on_ready(window)
        await closed
    finally:
        gc.unfreeze()
    if watch is not None:
        watch.stop()
    if tray is not None:
        tray.hide()
    return 0


def _log_unexpected_errors(loop: asyncio.AbstractEventLoop) -> None:
    """An exception in a Qt slot or a forgotten task goes to the log file with its traceback (never lost
    on a console that a GUI app on Windows does not have)."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        log.error("Unexpected error", exc_info=(kind, value, tb))
        if previous is not sys.__excepthook__:
            previous(kind, value, tb)

    sys.excepthook = hook

    def loop_handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        log.error("Unexpected error in the event loop: %s", context.get("message", ""),
                  exc_info=exc if isinstance(exc, BaseException) else None)

    loop.set_exception_handler(loop_handler)


def _make_tray(app: QApplication) -> QSystemTrayIcon | None:
    if not QSystemTrayIcon.isSystemTrayAvailable():
        return None
    tray = QSystemTrayIcon(app_icon(), app)
    tray.setToolTip("vmrestore")
    tray.show()
    return tray
