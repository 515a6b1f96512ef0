"""The main window: areas on the left, the current area on the right, connection state at the bottom."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QSystemTrayIcon,
    QWidget,
)

from vmrestore import model

from .audit_view import AuditView
from .connect_dialog import ConnectDialog
from .errors import show_error
from .icons import app_icon, area_icon
from .jobs_model import JobsModel
from .jobs_view import CANCELLABLE, JobsView, LongJobNotifier
from .keyboard import tab_leaves_views
from .placeholder import PlaceholderPage
from .ports import NeedsConnection, ServicesLike, Unsubscribe
from .restore import restore_points_factory
from .status import ConnectionStatus, ConnectionWatcher
from .tasks import TaskSet
from .window_tools import WindowTools

log = logging.getLogger(__name__)

KEEPALIVE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Area:
    """One entry of the navigation list; its icon is ``resources.AREA_ICONS[key]`` (see ui/icons.py)."""

    key: str
    title: str


AREAS = (
    Area("points", "Restore points"),
    Area("mounts", "Mounted disks && instant VMs"),
    Area("snapshots", "Snapshots"),
    Area("jobs", "Jobs"),
    Area("audit", "Audit"),
)
AREA_KEYS = tuple(a.key for a in AREAS)

PLACEHOLDERS = {
    "points": (
        "Restore points",
        "Every backup of every VM that vmrestore found in your backup repositories, newest first, with its "
        "disks and volumes. From here you will browse the guest files of a restore point, search all indexed "
        "points for a file, compare versions of a file, and copy files out to this computer.",
    ),
    "mounts": (
        "Mounted disks & instant VMs",
        "Disks of a restore point attached to a running VM (with a drive letter inside the guest) and VMs "
        "started straight from backup storage (instant recovery), with their expiry time. From here you will "
        "copy files into the guest, migrate an instant VM to production storage, or stop and discard it.",
    ),
    "snapshots": (
        "Snapshots",
        "Every VM's snapshot tree with age, delta-disk size and a classification (backup leftovers, old, "
        "large), the space each datastore loses to deltas, and orphaned delta files. From here you will "
        "preview and run a throttled, verified cleanup.",
    ),
}


class MainWindow(QMainWindow):
    closed = Signal()

    def __init__(
        self,
        services: ServicesLike,
        settings: QSettings,
        *,
        tray: QSystemTrayIcon | None = None,
        area_pages: Mapping[str, Callable[[QWidget], QWidget]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``area_pages``: page factories (``factory(parent) -> page``) for the areas "points", "mounts" and
        "snapshots" once they are built; an area without one shows its placeholder."""
        super().__init__(parent)
        self._area_pages = dict(area_pages or {})
        self._services = services
        self._settings = settings
        self._tasks = TaskSet()
        self._connect_dialog: ConnectDialog | None = None
        self._confirmed_quit = False
        self._confirmed_keep_mounts = False
        self._unsubscribers: list[Unsubscribe] = []
        self.setObjectName("mainWindow")
        self.setWindowTitle("vmrestore")
        self.setAccessibleName("vmrestore main window")
        self.setWindowIcon(app_icon())

        # Areas
        self.nav = QListWidget(self)
        self.nav.setObjectName("areaList")
        self.nav.setAccessibleName("Areas")
        self.nav.setAccessibleDescription("Choose an area; Ctrl+1 to Ctrl+5 switch directly")
        self.nav.setIconSize(QSize(20, 20))
        self.nav.setSpacing(2)
        self.stack = QStackedWidget(self)
        self.stack.setObjectName("areaStack")
        self.jobs_model = JobsModel(services.scheduler, self)
        self.jobs_view = JobsView(self.jobs_model, self)
        self.audit_view = AuditView(services.audit, self)
        self.pages: dict[str, QWidget] = {}
        for area in AREAS:
            page = self._make_page(area.key)
            page.setObjectName(f"page_{area.key}")
            self.pages[area.key] = page
            self.stack.addWidget(page)
            title = area.title.replace("&&", "&")
            item = QListWidgetItem(area_icon(area.key), title, self.nav)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, title)
            item.setSizeHint(QSize(0, 34))
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setMinimumWidth(190)
        self.nav.setMaximumWidth(320)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName("mainSplitter")
        splitter.addWidget(self.nav)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([220, 900])
        self.setCentralWidget(splitter)

        # Status bar
        self.connection_status = ConnectionStatus(
            services.settings.role, self, role_locked=bool(getattr(services.settings, "role_locked", False))
        )
        self.statusBar().addPermanentWidget(self.connection_status)
        self.statusBar().setAccessibleName("Status bar")
        self._watcher = ConnectionWatcher(self)
        self._watcher.changed.connect(self._on_identity)
        self._unsubscribers.append(services.connection.add_listener(self._watcher.changed.emit))

        # Tray balloon for long jobs
        self.notifier = LongJobNotifier(tray, parent=self)
        self.jobs_model.jobEnded.connect(self.notifier.on_job_ended)

        self.tools = WindowTools(self, services)
        self._build_menus()
        # A cheap call every minute keeps the session from idling out and notices a lost connection.
        self.keepalive_timer = QTimer(self)
        self.keepalive_timer.setInterval(KEEPALIVE_MS)
        self.keepalive_timer.timeout.connect(self.check_connection)
        self.keepalive_timer.start()
        self._on_identity(services.connection.identity)
        self._restore_ui_state()
        tab_leaves_views(self)  # Tab leaves tables on every page (arrows move inside them)
        self.nav.setFocus()

    # -- construction ------------------------------------------------------------------------------
    def _make_page(self, key: str) -> QWidget:
        if key == "jobs":
            return self.jobs_view
        if key == "audit":
            return self.audit_view
        factory = self._area_pages.get(key)
        if factory is None and key == "points":
            factory = restore_points_factory(self._services)  # None without a catalog (the UI tests' fakes)
        if factory is not None:
            page = factory(self)
            request = getattr(page, "addRepositoryRequested", None)  # the Restore points page's "Add a repository…"
            if request is not None:
                request.connect(lambda: self.tools.open_settings("repositories", add_repository=True))
            instant = getattr(page, "instantRecoveryRequested", None)  # "Instant recovery…" on a restore point
            if instant is not None:
                instant.connect(self.open_instant_recovery)
            return page
        title, text = PLACEHOLDERS[key]
        return PlaceholderPage(title, text, self)

    def open_instant_recovery(self, point_id: str) -> None:
        """Show the Mounted page and open the Instant recovery wizard on ``point_id``."""
        section = getattr(self.pages.get("mounts"), "instant_section", None)
        if section is None:
            self.statusBar().showMessage("Instant recovery is not available in this window", 10000)
            return
        self.show_area("mounts")
        section.open_wizard(point_id)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.connect_action = QAction("&Connect…", self)
        self.connect_action.setShortcut(QKeySequence("Ctrl+K"))
        self.connect_action.triggered.connect(self.open_connect_dialog)
        self.disconnect_action = QAction("&Disconnect", self)
        self.disconnect_action.triggered.connect(self.disconnect_server)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcuts([QKeySequence("Ctrl+Q")])
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.connect_action)
        file_menu.addAction(self.disconnect_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        view_menu = self.menuBar().addMenu("&View")
        self.area_actions: list[QAction] = []
        for number, area in enumerate(AREAS, start=1):
            action = QAction(area.title, self)
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda _checked=False, key=area.key: self.show_area(key))
            view_menu.addAction(action)
            self.area_actions.append(action)

        tools_menu = self.menuBar().addMenu("&Tools")
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(lambda: self.tools.open_settings())
        self.first_run_action = QAction("&First-run guide…", self)
        self.first_run_action.triggered.connect(lambda: self.tools.open_first_run())
        tools_menu.addAction(self.settings_action)
        tools_menu.addAction(self.first_run_action)

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About vmrestore", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    # -- areas -------------------------------------------------------------------------------------
    def show_area(self, key: str) -> None:
        self.nav.setCurrentRow(AREA_KEYS.index(key))

    def current_area(self) -> str:
        return AREA_KEYS[self.stack.currentIndex()]

    # -- connection --------------------------------------------------------------------------------
    def _on_identity(self, identity: model.ServerIdentity | None) -> None:
        self.connection_status.set_identity(identity)
        lost = self._services.connection.lost if identity is None else None
        if lost:
            self.connection_status.set_lost(lost)
            self.statusBar().showMessage(lost, 30000)
        self.disconnect_action.setEnabled(identity is not None)
        for page in self.pages.values():
            if isinstance(page, NeedsConnection):
                page.set_connected(identity is not None)
        title = f"vmrestore — {identity.server}" if identity is not None else "vmrestore"
        self.setWindowTitle(title)

    def check_connection(self) -> None:
        if self._services.connection.identity is not None:
            self._tasks.spawn(self._services.connection.check_alive(), name="keepalive")

    def open_connect_dialog(self, parent: QWidget | None = None) -> ConnectDialog:
        """File › Connect…; ``parent`` when another dialog (Settings, the first run) asks for it."""
        if self._connect_dialog is not None:
            self._connect_dialog.raise_()
            self._connect_dialog.activateWindow()
            return self._connect_dialog
        settings = self._services.settings
        dialog = ConnectDialog(self._services.connection, parent or self, url=settings.last_server,
                               username=settings.last_user)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.connected.connect(self._on_connected)
        dialog.finished.connect(self._connect_dialog_closed)
        self._connect_dialog = dialog
        dialog.open()
        return dialog

    def _connect_dialog_closed(self, _result: int) -> None:
        self._connect_dialog = None

    def _on_connected(self, identity: model.ServerIdentity) -> None:
        self.statusBar().showMessage(f"Connected to {identity.server} as {identity.user}", 8000)
        self._show_connection_warnings()
        # Leftovers in vCenter (an attached disk, a mounted datastore) can only be undone with a login:
        # the start-up sweep left them pending, so sweep again now.
        self._tasks.spawn(self._sweep_after_connect(), name="sweep-after-connect")
        dialog = self._connect_dialog
        if dialog is not None:
            self._tasks.spawn(
                self._remember_login(dialog.url_edit.text().strip(), dialog.user_edit.text().strip()),
                name="remember-login",
            )

    async def _sweep_after_connect(self) -> None:
        try:
            result = await self._services.sweep()
        except Exception as exc:
            log.warning("The sweep after connecting failed", exc_info=True)
            show_error(self, exc, context="Cleaning up after an earlier run failed.")
            return
        if getattr(result, "found", None):
            self.show_sweep_result(result)

    async def _remember_login(self, url: str, user: str) -> None:
        settings = self._services.settings
        settings.last_server, settings.last_user = url, user
        try:
            await asyncio.get_running_loop().run_in_executor(None, settings.save)
        except Exception:
            log.warning("Could not save the last server and user", exc_info=True)

    def _show_connection_warnings(self) -> None:
        # e.g. "password not saved: no keyring available" — the session works, the operator must know.
        warnings = [str(w) for w in getattr(self._services.connection, "warnings", []) or []]
        if not warnings:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Connected, with a warning", "\n".join(warnings), parent=self)
        box.setObjectName("connectionWarnings")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def disconnect_server(self) -> None:
        self._tasks.spawn(self._disconnect(), name="disconnect")

    async def _disconnect(self) -> None:
        try:
            await self._services.connection.disconnect()
        except Exception as exc:
            log.warning("Disconnect failed", exc_info=True)
            show_error(self, exc, context="Disconnecting failed; the session may stay open until it times out.")

    # -- notices -----------------------------------------------------------------------------------
    def show_sweep_result(self, result: Any) -> QMessageBox | None:
        """After the start-up sweep: tell the operator what a crashed run left behind and what was undone."""
        found = list(getattr(result, "found", []) or [])
        undone = list(getattr(result, "undone", []) or [])
        failed = list(getattr(result, "failed", []) or [])
        if not found and not undone and not failed:
            self.statusBar().showMessage("Start-up check: nothing left behind by earlier runs.", 8000)
            return None
        # SweepResult names what could not be undone; without that field, what was found but not undone.
        left = failed if hasattr(result, "failed") else [item for item in found if item not in undone]
        lines = [f"• {sweep_item_text(item)}" for item in undone[:15]]
        text = "An earlier vmrestore run ended before it could clean up."
        if undone:
            text += f" {len(undone)} item(s) were undone automatically."
        if left:
            text += (f" {len(left)} item(s) could not be undone; vmrestore retries after the next login"
                     " and at the next start.")
            lines += ["", "Still left:", *(f"• {sweep_item_text(item)}" for item in left[:15])]
        box = QMessageBox(
            QMessageBox.Icon.Warning if left else QMessageBox.Icon.Information,
            "Cleaned up after an earlier run",
            text,
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setObjectName("sweepNotice")
        box.setInformativeText("\n".join(lines))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def show_about(self) -> QMessageBox:
        return self.tools.show_about()

    # -- UI state and closing ----------------------------------------------------------------------
    def _restore_ui_state(self) -> None:
        geometry = self._settings.value("mainWindow/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1180, 720)
        self._fit_on_screen()
        last = self._settings.value("mainWindow/lastArea", "points")
        self.show_area(last if last in AREA_KEYS else "points")

    def _fit_on_screen(self) -> None:
        """Never larger than the screen's free area: on a 1024x700 desktop (or a saved geometry from a bigger
        monitor) the right-hand buttons would otherwise lie off screen, out of reach of the mouse."""
        screen = self.screen()
        if screen is None:
            return
        area = screen.availableGeometry()
        if self.width() > area.width() or self.height() > area.height():
            self.resize(min(self.width(), area.width()), min(self.height(), area.height()))
        if not area.contains(self.frameGeometry().topLeft()):
            self.move(area.topLeft())

    def save_ui_state(self) -> None:
        self._settings.setValue("mainWindow/geometry", self.saveGeometry())
        self._settings.setValue("mainWindow/lastArea", self.current_area())
        self._settings.sync()

    def changeEvent(self, event: QEvent) -> None:
        # The area icons are drawn in the palette's colours: redraw them when the light/dark scheme changes.
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            for row in range(self.nav.count()):
                self.nav.item(row).setIcon(area_icon(AREA_KEYS[row]))
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        running = [h for h in self.jobs_model_handles() if h.state in CANCELLABLE]
        if running and not self._confirmed_quit:
            event.ignore()
            self._ask_quit(len(running))
            return
        live: list[Any] = getattr(self.pages.get("mounts"), "live_mounts", lambda: [])()
        if live and not self._confirmed_keep_mounts:
            event.ignore()
            self._ask_keep_mounts(live)
            return
        self.save_ui_state()
        self._tasks.cancel_all()
        for page in self.pages.values():
            page.close()  # each page gets its closeEvent and stops the tasks it started
        self.jobs_model.close()
        if self.tools.first_run is not None:  # a dialog of its own: it would outlive the window it belongs to
            self.tools.first_run.close()
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers.clear()
        super().closeEvent(event)
        self.closed.emit()

    def jobs_model_handles(self) -> list[Any]:
        return [self.jobs_model.handle(row) for row in range(self.jobs_model.rowCount())]

    def _ask_quit(self, count: int) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Jobs are still running",
            f"{count} job(s) are still running or queued. Quitting cancels them; each job undoes its own "
            "work "
            "(the next start also checks for leftovers).\n\nQuit anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setObjectName("confirmQuit")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button: int) -> None:
            if button == QMessageBox.StandardButton.Yes.value:
                self._confirmed_quit = True
                self.close()

        box.finished.connect(answered)
        box.open()


    def _ask_keep_mounts(self, live: list[Any]) -> None:
        """Live hot-add mounts outlive the app on purpose (their lease ends them); say so and let the operator
        keep them or go to the Mounted page to unmount."""
        first = min(m.expires for m in live)
        box = QMessageBox(
            QMessageBox.Icon.Question, "Disks are still mounted in VMs",
            f"{len(live)} backup disk(s) are still mounted in VMs ({', '.join(sorted({m.vm for m in live}))}). "
            f"They stay until their lease ends (the first at {first:%H:%M} UTC) or until you unmount them.",
            QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("confirmKeepMounts")
        keep = box.addButton("&Keep them mounted and quit", QMessageBox.ButtonRole.AcceptRole)
        show = box.addButton("&Show the mounted disks", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(show)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(_result: int) -> None:
            if box.clickedButton() is keep:
                self._confirmed_keep_mounts = True
                self.close()
            else:
                self.nav.setCurrentRow(AREA_KEYS.index("mounts"))

        box.finished.connect(answered)
        box.open()


def sweep_item_text(item: Any) -> str:
    """A journal entry (or ``(entry, reason)``) as one line: what kind of object, on which resource."""
    if isinstance(item, tuple) and len(item) == 2:
        return f"{sweep_item_text(item[0])}: {item[1]}"
    kind, resource = getattr(item, "kind", None), getattr(item, "resource", None)
    if kind and resource:
        return f"{str(kind).replace('_', ' ')} on {resource}"
    return str(item)
