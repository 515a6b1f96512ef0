"""The background snapshot watch: a timer that scans and raises a tray notification.

What is worth a notification is decided by ``app.snapshots.watch.SnapshotWatch``; this object only
schedules scans (never two at once, never without a vCenter session), shows the message, and emits
``notified`` (for the page's status line and the tests). Scan errors are logged and shown nowhere else:
a background check must not pop dialogs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from vmrestore.app.snapshots.types import SnapshotReport
from vmrestore.app.snapshots.watch import Notification, SnapshotWatch, notification

log = logging.getLogger(__name__)

MESSAGE_MS = 15_000


class Scanner(Protocol):
    async def run(self, *, orphans: bool = ...) -> SnapshotReport: ...


class Tray(Protocol):
    def showMessage(self, title: str, msg: str, icon: QSystemTrayIcon.MessageIcon, msecs: int) -> None: ...


class SnapshotWatcher(QObject):
    notified = Signal(object)  # Notification
    scanned = Signal(object)  # SnapshotReport
    failed = Signal(str)

    def __init__(self, connected: Callable[[], bool], scanner: Scanner, tray: Tray, interval_ms: int,
                 decide: SnapshotWatch, parent: QObject | None = None) -> None:
        """``connected``: whether a vCenter session is open now (no scan without one)."""
        super().__init__(parent)
        self.connected = connected
        self.scanner = scanner
        self.tray = tray
        self.decide = decide
        self.timer = QTimer(self)
        self.timer.setInterval(max(1, interval_ms))
        self.timer.timeout.connect(self.check_now)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        if self._task is not None:
            self._task.cancel()

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def check_now(self) -> None:
        if self.busy or not self.connected():
            return
        self._task = asyncio.ensure_future(self._check())

    async def _check(self) -> None:
        try:
            report = await self.scanner.run(orphans=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # logged, never raised into Qt
            log.warning("background snapshot check failed: %s", exc)
            self.failed.emit(str(exc))
            return
        self.scanned.emit(report)
        note: Notification | None = notification(self.decide.evaluate(report))
        if note is not None:
            self.tray.showMessage(note.title, note.text, QSystemTrayIcon.MessageIcon.Warning, MESSAGE_MS)
            self.notified.emit(note)
