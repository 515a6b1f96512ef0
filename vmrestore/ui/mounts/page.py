"""The "Mounted" area: live hot-add mounts (Extend / Copy… / Unmount), and room for more sections.

With a shared catalog the list also shows colleagues' live mounts (``HotAddSessions.colleagues``, as
``mount list --all``), with the workstation and user that made them; they are acted on at that desk, so the
actions are disabled for them with a tooltip saying where.

:class:`MountedPage` is a container of titled sections: this module adds "Disks mounted in VMs"; the
instant-recovery feature adds its "Instant VMs" section with :meth:`MountedPage.add_section`.
The actions call the same use cases as ``vmrestore mount extend|copy|stop``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vmrestore.app.guest_credentials import resolve_guest_credentials
from vmrestore.app.hotadd import HotAdd, MountSession
from vmrestore.app.hotadd_session import HotAddSessions
from vmrestore.model import JobState

from ..errors import describe
from ..tasks import TaskSet, ask, call_io

_Index = QModelIndex | QPersistentModelIndex


class MountsModel(QAbstractTableModel):
    COLUMNS = ("Session", "VM", "Letter", "Restore point", "User", "Workstation", "Started (UTC)", "Expires (UTC)",
               "State")
    RowRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[MountSession] = []

    def set_rows(self, rows: list[MountSession]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        m = self.rows[index.row()]
        if role == self.RowRole:
            return m
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            state = f"{m.state}, on {owner_of(m)}" if m.colleague else m.state
            return (m.session, m.vm, f"{m.letter}:" if m.letter else "", m.point, m.user, m.workstation,
                    f"{m.started:%Y-%m-%d %H:%M}" if m.started else "", f"{m.expires:%Y-%m-%d %H:%M}",
                    state)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and m.colleague:
            return elsewhere_tip(m)
        return None


def owner_of(m: MountSession) -> str:
    """``WORKSTATION (user)`` of the process that made the mount, else of its lease."""
    if m.creator is not None:
        return f"{m.creator.workstation} ({m.creator.user})"
    return f"{m.workstation} ({m.user})"


def elsewhere_tip(m: MountSession) -> str:
    return f"Mounted from {owner_of(m)}: extend, copy or unmount it there"


class ExtendDialog(QDialog):
    def __init__(self, session: MountSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Extend {session.session}")
        self.hours = QSpinBox(self)
        self.hours.setRange(1, 72)
        self.hours.setValue(2)
        self.hours.setSuffix(" h from now")
        self.hours.setAccessibleName("New lease in hours from now")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Extend")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(f"{session.vm} {session.letter or ''}: keep mounted for", self.hours)
        form.addRow(buttons)


class CopyDialog(QDialog):
    """Paths of the mounted point (one per line), a destination folder in the guest, the guest login."""

    def __init__(self, session: MountSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Copy inside {session.vm}")
        self.paths = QLineEdit(f"{session.letter}:\\" if session.letter else "/disk0/vol1/", self)
        self.paths.setAccessibleName("What to copy: R:\\path or /disk0/vol1/path; several separated by ';'")
        self.dest = QLineEdit("C:\\Restore", self)
        self.dest.setAccessibleName("Destination folder in the guest")
        self.user = QLineEdit(self)
        self.user.setAccessibleName("Guest user")
        self.password = QLineEdit(self)
        self.password.setAccessibleName("Guest password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Copy")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("&What:", self.paths)
        form.addRow("&To:", self.dest)
        form.addRow("Guest &user:", self.user)
        form.addRow("Guest &password:", self.password)
        form.addRow(buttons)


class MountedPage(QWidget):
    """A column of titled sections; the first lists live hot-add mounts."""

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self.hotadd = HotAdd(services.connection, services.catalog, services.leases, services, services,
                             services.paths.home)
        self.sessions = HotAddSessions(self.hotadd)
        self._tasks = TaskSet()
        self.setAccessibleName("Mounted disks and instant VMs")
        self._layout = QVBoxLayout(self)
        self._layout.addWidget(QLabel("<h2>Mounted disks &amp; instant VMs</h2>", self))

        box = QWidget(self)
        self.model = MountsModel(self)
        self.table = QTableView(box)
        self.table.setObjectName("mountsTable")
        self.table.setAccessibleName("Disks mounted in VMs")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.status = QLabel("", box)
        self.refresh_button = QPushButton("R&efresh", box)
        self.extend_button = QPushButton("E&xtend…", box)
        self.copy_button = QPushButton("&Copy…", box)
        self.unmount_button = QPushButton("&Unmount", box)
        self.unmount_button.setObjectName("unmountButton")
        self.refresh_button.clicked.connect(self.refresh)
        self.extend_button.clicked.connect(lambda: self._tasks.spawn(self.extend(), name="extend"))
        self.copy_button.clicked.connect(lambda: self._tasks.spawn(self.copy(), name="copy"))
        self.unmount_button.clicked.connect(lambda: self._tasks.spawn(self.unmount(), name="unmount"))
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        row = QHBoxLayout()
        for b in (self.refresh_button, self.extend_button, self.copy_button, self.unmount_button):
            row.addWidget(b)
        row.addStretch(1)
        inner = QVBoxLayout(box)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.table, 1)
        inner.addLayout(row)
        inner.addWidget(self.status)
        self.add_section("Disks mounted in VMs", box)
        self._update_buttons()
        # A mount started or stopped anywhere (the wizard, this page) refreshes the list when its job ends.
        self._unsubscribe = services.scheduler.add_listener(self._job_changed)
        self.refresh()

    def _job_changed(self, handle: Any) -> None:
        if getattr(handle, "kind", "") in ("mount", "unmount") and getattr(handle, "is_finished", False):
            self.refresh()

    def live_mounts(self) -> list[MountSession]:
        """The live mounts as last read (the main window asks on quit whether to keep them)."""
        return [m for m in self.model.rows if m.state == "active" and not m.colleague]

    def closeEvent(self, event: Any) -> None:
        self._unsubscribe()
        self._tasks.cancel_all()
        super().closeEvent(event)

    def add_section(self, title: str, widget: QWidget) -> QGroupBox:
        """Add a titled section below the others (instant recovery adds "Instant VMs" here)."""
        group = QGroupBox(title, self)
        layout = QVBoxLayout(group)
        layout.addWidget(widget)
        self._layout.addWidget(group, 1)
        return group

    def selected(self) -> MountSession | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(MountsModel.RowRole) if rows else None

    def _update_buttons(self) -> None:
        m = self.selected()
        theirs = m is not None and m.colleague
        for b in (self.extend_button, self.copy_button, self.unmount_button):
            b.setEnabled(m is not None and not theirs)
            b.setToolTip(elsewhere_tip(m) if m is not None and theirs else "")

    def refresh(self) -> None:
        self._tasks.spawn(self.reload(), name="mounts-reload")

    async def reload(self) -> None:
        mine = await call_io(self.sessions.sessions)
        theirs = await call_io(self.sessions.colleagues)  # none without a shared catalog
        self.model.set_rows(mine + theirs)
        self.table.resizeColumnsToContents()
        elsewhere = f", {len(theirs)} on other workstations" if theirs else ""
        self.status.setText(f"{len(mine)} live mount(s){elsewhere}" if mine or theirs else
                            "No disk is mounted. Pick files on the Restore points page, then Restore into VM…")
        self._update_buttons()

    async def _follow(self, job: Any) -> Any:
        handle = self._services.scheduler.submit(job)
        result = await handle.wait()
        if handle.state is not JobState.DONE:
            self.status.setText(f"Failed: {describe(handle.error).text if handle.error else 'cancelled'}")
            return None
        return result

    def _guest(self, user: str = "", password: str = "") -> Any:
        identity = self._services.connection.identity
        try:
            return resolve_guest_credentials(self._services.secrets, identity.server if identity else "vcenter",
                                             user or None, lambda _u: password)
        except Exception:
            return None

    async def extend(self) -> None:
        m = self.selected()
        if m is None:
            return
        dialog = ExtendDialog(m, self)
        if await ask(dialog) != QDialog.DialogCode.Accepted.value:
            return
        try:
            await call_io(self.sessions.extend, m.session, timedelta(hours=dialog.hours.value()))
        except Exception as exc:
            self.status.setText(f"Not extended: {describe(exc).text}")
        await self.reload()

    async def copy(self) -> None:
        m = self.selected()
        if m is None:
            return
        dialog = CopyDialog(m, self)
        if await ask(dialog) != QDialog.DialogCode.Accepted.value:
            return
        paths = [p.strip() for p in dialog.paths.text().split(";") if p.strip()]
        creds = self._guest(dialog.user.text().strip(), dialog.password.text())
        try:
            job = self.sessions.copy(m.session, paths, dialog.dest.text().strip(), creds)
        except Exception as exc:
            self.status.setText(f"Not copied: {describe(exc).text}")
            return
        result = await self._follow(job)
        if result is not None:
            self.status.setText(f"Copied in {m.vm} to {dialog.dest.text()}"
                                + ("" if result.files is None else f": {result.files} file(s)"))

    async def unmount(self) -> None:
        m = self.selected()
        if m is None:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Unmount",
                          f"Take {m.letter or 'the disk'}: offline in {m.vm}, detach it and remove the temporary "
                          "delta? The backup is not touched.", QMessageBox.StandardButton.Cancel, self)
        confirm = box.addButton(f"Unmount {m.letter + ':' if m.letter else 'the disk'} from {m.vm}",
                                QMessageBox.ButtonRole.AcceptRole)
        self.confirm_box = box
        await ask(box)
        if box.clickedButton() is not confirm:
            return
        result = await self._follow(self.sessions.stop(m.session, self._guest()))
        if result is not None:
            self.status.setText(f"Session {m.session} unmounted")
        await self.reload()


def mounted_factory(services: Any) -> Any:
    """The page factory for ``MainWindow``'s "mounts" area; None without the app's leases (UI fakes)."""
    if getattr(services, "catalog", None) is None or not hasattr(type(services), "leases"):
        return None
    return lambda parent: MountedPage(services, parent)
