"""The main window's dialogs beyond connecting: Tools › Settings…, the first run, Help › About.

Kept out of ``main_window`` so that the window stays a frame (areas, menus, status bar) and each dialog's
wiring is in one place: after Settings or the first run changed the repositories, the Restore points page
reloads; after the appearance changed, the palette switches at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QWidget

import vmrestore

from .first_run import FirstRunWizard, first_run_needed
from .settings import SettingsDialog
from .tasks import TaskSet
from .theme import apply_theme

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)


def where_things_live(services: Any) -> list[tuple[str, str]]:
    """(what, where) for Help › About and the admin guide: log, settings, catalog, audit, policy."""
    paths = services.paths
    home = Path(paths.home)
    catalog = getattr(getattr(services, "catalog", None), "location", None) or str(home / "catalog.sqlite")
    policy = os.environ.get("VMRESTORE_POLICY")
    if policy is None:
        try:
            from vmrestore.app.paths import machine_policy_file

            policy = str(machine_policy_file())
        except Exception:  # pragma: no cover - platformdirs missing
            policy = "policy.json in the machine's configuration folder"
    return [
        ("Data folder", str(home)),
        ("Log file", str(home / "logs" / "vmrestore.log")),
        ("Settings", str(home / "settings.json")),
        ("Catalog", _redacted(catalog)),
        ("Audit log", str(home / "audit.log")),
        ("Machine policy (role)", policy),
    ]


def _redacted(location: str) -> str:
    import re

    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", location)


class WindowTools(QObject):
    def __init__(self, window: MainWindow, services: Any) -> None:
        super().__init__(window)
        self._window = window
        self._services = services
        self._tasks = TaskSet()
        self.settings_dialog: SettingsDialog | None = None
        self.first_run: FirstRunWizard | None = None

    # -- settings ----------------------------------------------------------------------------------
    def open_settings(self, tab: str = "repositories", *, add_repository: bool = False) -> SettingsDialog:
        if self.settings_dialog is not None:
            self.settings_dialog.raise_()
            self.settings_dialog.activateWindow()
            return self.settings_dialog
        dialog = SettingsDialog(self._services, self._window, tab=tab, open_connect=self._window.open_connect_dialog)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.appearanceChanged.connect(self.apply_appearance)
        dialog.repositoriesChanged.connect(self.refresh_points)
        dialog.finished.connect(lambda _r: setattr(self, "settings_dialog", None))
        self.settings_dialog = dialog
        dialog.open()
        if add_repository and dialog.reason is None:
            dialog.repositories.add()
        return dialog

    def apply_appearance(self, mode: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, mode)

    def refresh_points(self) -> None:
        page = self._window.pages.get("points")
        refresh = getattr(page, "refresh", None)
        if callable(refresh):
            refresh()

    # -- first run ---------------------------------------------------------------------------------
    async def maybe_first_run(self) -> FirstRunWizard | None:
        try:
            needed = await first_run_needed(self._services)
        except Exception:
            log.warning("Could not decide whether to show the first run", exc_info=True)
            return None
        return self.open_first_run() if needed else None

    def open_first_run(self) -> FirstRunWizard:
        if self.first_run is not None:
            self.first_run.raise_()
            return self.first_run
        wizard = FirstRunWizard(self._services, self._window, open_connect=self._window.open_connect_dialog)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._unlisten = self._services.connection.add_listener(
            lambda identity: wizard.connect_page.show_identity(identity) if self.first_run is wizard else None)
        wizard.finished.connect(lambda result: self._first_run_finished(wizard, result))
        self.first_run = wizard
        wizard.open()
        return wizard

    def _first_run_finished(self, wizard: FirstRunWizard, result: int) -> None:
        self.first_run = None
        self._unlisten()
        if wizard.repository_page.added is not None:
            self.refresh_points()
        if result == QDialog.DialogCode.Accepted.value:
            self._tasks.spawn(self._mark_first_run_done(), name="first-run-done")
            self._window.show_area("points")
            page = self._window.pages.get("points")
            tree = getattr(page, "tree", None)
            (tree if isinstance(tree, QWidget) else self._window.nav).setFocus()

    async def _mark_first_run_done(self) -> None:
        settings = self._services.settings
        settings.first_run_done = True
        try:
            await asyncio.get_running_loop().run_in_executor(None, settings.save)
        except Exception:
            log.warning("Could not save that the first run is done", exc_info=True)

    # -- about -------------------------------------------------------------------------------------
    def show_about(self) -> QMessageBox:
        box = QMessageBox(self._window)
        box.setObjectName("aboutBox")
        box.setWindowTitle("About vmrestore")
        box.setIconPixmap(self._window.windowIcon().pixmap(48, 48))
        box.setText(f"<b>vmrestore {vmrestore.__version__}</b><br>Restore console for VMware vSphere.")
        rows = "".join(f"<tr><td><b>{what}</b>&nbsp;&nbsp;</td><td>{where}</td></tr>"
                       for what, where in where_things_live(self._services))
        box.setInformativeText(f"<table>{rows}</table>")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                    | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def close(self) -> None:
        self._tasks.cancel_all()
