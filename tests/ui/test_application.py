"""Starting the app: services built off the Qt thread, sweep at start, window, clean shutdown."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from tests.ui.fakes import FakeConnection, FakeServices, RealEngine, SweepOutcome
from vmrestore.ui.application import run_app
from vmrestore.ui.main_window import MainWindow


def test_run_app_builds_sweeps_shows_and_closes(qapp: QApplication, qtbot: QtBot, tmp_path: Path) -> None:
    engine = RealEngine(tmp_path / "home")
    built_in: list[str] = []
    seen: dict[str, object] = {}

    class Entry:
        kind, resource = "instant_vm", "vm-7"

    def factory() -> FakeServices:
        built_in.append(threading.current_thread().name)
        services = FakeServices(tmp_path / "home", engine, FakeConnection())
        entry = Entry()
        services.sweep_result = SweepOutcome(found=[entry], undone=[entry])
        seen["services"] = services
        return services

    async def on_ready(window: MainWindow) -> None:
        seen["visible"] = window.isVisible()
        notices = [box for box in window.findChildren(QMessageBox) if box.objectName() == "sweepNotice"]
        seen["notice"] = notices[0].informativeText() if notices else None
        for box in notices:
            box.close()
        window.close()

    assert run_app(qapp, factory, on_ready=on_ready) == 0
    assert built_in and built_in[0] != threading.main_thread().name  # not on the Qt thread
    assert seen["visible"] is True
    assert seen["notice"] == "• instant vm on vm-7"
    assert seen["services"].closed  # type: ignore[attr-defined]
    assert (tmp_path / "home" / "ui.ini").exists()  # UI state saved in the vmrestore home
    engine.close()


def test_run_app_reports_a_failed_start(qapp: QApplication, qtbot: QtBot) -> None:
    def factory() -> FakeServices:
        raise PermissionError("C:/Users/x/AppData/Local/vmrestore is read-only")

    # The error box waits for the operator: close it as soon as it appears.
    def close_boxes() -> None:
        for widget in qapp.topLevelWidgets():
            if isinstance(widget, QMessageBox) and widget.isVisible():
                seen.append(widget.text())
                widget.close()

    from PySide6.QtCore import QTimer

    seen: list[str] = []
    timer = QTimer()
    timer.timeout.connect(close_boxes)
    timer.start(20)
    assert run_app(qapp, factory) == 1
    timer.stop()
    assert seen and "read-only" in seen[0]
