"""The instant VMs' section of the Mounted page: live state, Migrate… and Discard, with job progress.

A widget module of its own so the Mounted page (hot-added disks) can host it as one section. The list
refreshes every few seconds in an executor (power, Tools, IP read from vCenter); a running migrate or
discard shows its progress in the row and under the table.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vmrestore.model import format_size
from vmrestore.ui.instant.model import (
    COL_DATASTORE,
    COL_HOST,
    COL_POINT,
    COL_STARTED,
    COL_STATE,
    COL_VM,
    InstantRow,
    InstantVmsModel,
    RowRole,
)
from vmrestore.ui.instant.ports import InstantPort, SubmitPort
from vmrestore.ui.instant.wizard import InstantWizard
from vmrestore.ui.tasks import TaskSet, ask, call_io

REFRESH_MS = 10_000


def _named(widget: Any, name: str) -> Any:
    """Give a widget its object name (tests and accessibility tools find it by that name)."""
    widget.setObjectName(name)
    return widget


class MigrateDialog(QDialog):
    """Pick the production datastore; the button names the action ("Migrate web01-restored-…")."""

    def __init__(self, row: InstantRow, datastores: list[Any], parent: Any = None) -> None:
        super().__init__(parent)
        rec = row.record
        self.setObjectName("instantMigrateDialog")
        self.setWindowTitle(f"Migrate {rec.name}")
        self.datastore = _named(QComboBox(), "migrateDatastore")
        self.datastore.setAccessibleName("Production datastore")
        for d in datastores:
            self.datastore.addItem(f"{d.name} — {format_size(d.free_space)} free", d.name)
        self.connect_network = _named(QCheckBox("&Connect the network afterwards"), "migrateConnect")
        self.connect_network.setChecked(rec.network != "isolated")
        text = QLabel(f"Storage vMotion moves <b>{rec.name}</b> off the backup while it runs: every disk is "
                      "consolidated into a new file on the datastore you pick. Afterwards vmrestore checks that no "
                      "disk reads from the backup any more, unmounts the backup when nothing else uses it, and the "
                      "VM is an ordinary VM.")
        text.setWordWrap(True)
        buttons = QDialogButtonBox(self)
        self.go = buttons.addButton(f"Migrate {rec.name}", QDialogButtonBox.ButtonRole.AcceptRole)
        self.go.setObjectName("migrateButton")
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.datastore)
        layout.addWidget(self.connect_network)
        layout.addWidget(buttons)


class DiscardDialog(QDialog):
    """The discard plan (files that go, backup files that stay) and a button "Discard <name>"."""

    def __init__(self, plan: Any, parent: Any = None) -> None:
        super().__init__(parent)
        rec = plan.record
        self.setObjectName("instantDiscardDialog")
        self.setWindowTitle(f"Discard {rec.name}")
        deleted = "".join(f"<li>{p} ({s:,} bytes)</li>" for p, s in plan.delete) or "<li>(none)</li>"
        kept = "".join(f"<li>{p}</li>" for p in plan.keep) or "<li>(none)</li>"
        unmount = f"<p>Then unmount {rec.backup_datastore}: nothing else uses it.</p>" if plan.unmount else ""
        text = QLabel(f"<p><b>{rec.name}</b> is powered off and deleted; what it changed since the start is lost."
                      f"</p><p>Deleted from {rec.datastore}:</p><ul>{deleted}</ul><p>Never touched (the backup):</p>"
                      f"<ul>{kept}</ul>{unmount}")
        text.setObjectName("discardPlan")
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(self)
        self.go = buttons.addButton(f"Discard {rec.name}", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.go.setObjectName("discardButton")
        self.go.clicked.connect(self.accept)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setDefault(True)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)


class InstantSection(QWidget):
    """``job_submitted(handle)`` for every start, migrate and discard this section submits."""

    job_submitted = Signal(object)

    def __init__(self, use: InstantPort, scheduler: SubmitPort, parent: Any = None, *, refresh_ms: int = REFRESH_MS,
                 allowed: bool = True, why_not: str = "") -> None:
        super().__init__(parent)
        self._allowed, self._why_not = allowed, why_not
        self._connected = True
        self.setObjectName("instantSection")
        self._use, self._scheduler = use, scheduler
        self._tasks = TaskSet()
        self._running: dict[str, Any] = {}  # instant id -> job handle
        self.model = InstantVmsModel(self)
        self.table = _named(QTableView(self), "instantTable")
        self.table.setAccessibleName("Instant VMs")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_STATE, QHeaderView.ResizeMode.Stretch)
        for col, width in ((COL_VM, 170), (COL_HOST, 90), (COL_DATASTORE, 90), (COL_POINT, 190), (COL_STARTED, 115)):
            header.resizeSection(col, width)
        self.start_button = _named(QPushButton("&Instant recovery…", self), "instantStart")
        self.migrate_button = _named(QPushButton("&Migrate…", self), "instantMigrate")
        self.discard_button = _named(QPushButton("&Discard…", self), "instantDiscard")
        self.refresh_button = _named(QPushButton("&Refresh", self), "instantRefresh")
        for b in (self.migrate_button, self.discard_button):
            b.setEnabled(False)
        self.progress = _named(QProgressBar(self), "instantProgress")
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.status = _named(QLabel("", self), "instantStatus")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.migrate_button, self.discard_button, self.refresh_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.start_button.clicked.connect(lambda: self.open_wizard())
        self.migrate_button.clicked.connect(lambda: self._tasks.spawn(self.migrate_selected(), name="migrate"))
        self.discard_button.clicked.connect(lambda: self._tasks.spawn(self.discard_selected(), name="discard"))
        self.refresh_button.clicked.connect(self.refresh)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.timer = QTimer(self)
        self.timer.setInterval(refresh_ms)
        self.timer.timeout.connect(self.refresh)
        self.wizard: InstantWizard | None = None
        self._update_buttons()

    def set_connected(self, connected: bool) -> None:
        """The window tells the section when vCenter comes and goes (all actions need it)."""
        self._connected = connected
        self._update_buttons()
        if connected:
            self.refresh()

    def showEvent(self, event: Any) -> None:
        """Poll vCenter only while the section is on screen."""
        super().showEvent(event)
        self.timer.start()
        self.refresh()

    def hideEvent(self, event: Any) -> None:
        self.timer.stop()
        super().hideEvent(event)

    # -- listing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop runs (the app is closing): nothing to refresh on
            return
        self._tasks.spawn(self.reload(), name="instant-refresh")

    async def reload(self) -> None:
        try:
            # With a shared catalog colleagues' instant VMs too: seen here, migrated or discarded on their desk.
            records = await call_io(partial(self._use.list, colleagues=True))
            rows = [InstantRow(r, await call_io(self._use.live_state, r)) for r in records]
        except Exception as exc:
            self.status.setText(f"Cannot list instant VMs: {exc}")
            return
        selected = self.selected()
        for row in rows:
            handle = self._running.get(row.record.id)
            if handle is not None and not handle.is_finished:
                row.progress = handle.progress.text
        self.model.set_rows(rows)
        if selected is not None:
            for n, row in enumerate(rows):
                if row.record.id == selected.record.id:
                    self.table.selectRow(n)
        self._update_buttons()

    def selected(self) -> InstantRow | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return rows[0].data(RowRole) if rows else None

    def _update_buttons(self) -> None:
        row = self.selected()
        busy = row is not None and row.record.id in self._running
        may = self._allowed and self._connected
        theirs = row is not None and row.record.colleague
        ok = may and row is not None and row.record.state == "running" and not busy and not theirs
        self.start_button.setEnabled(may)
        self.migrate_button.setEnabled(ok)
        self.discard_button.setEnabled(ok)
        tip = self._why_not if not self._allowed else ("" if self._connected else "Connect to vCenter first")
        for b in (self.start_button, self.migrate_button, self.discard_button):
            b.setToolTip(tip)
        if theirs and self._allowed and self._connected:
            creator = row.record.creator if row is not None else None
            where = f"{creator.workstation} ({creator.user})" if creator else "another workstation"
            for b in (self.migrate_button, self.discard_button):
                b.setToolTip(f"Started on {where}: migrate or discard it there")

    # -- actions ---------------------------------------------------------------------------------
    def open_wizard(self, point_id: str | None = None) -> InstantWizard:
        self.wizard = InstantWizard(self._use, self._scheduler, point_id, self)
        self.wizard.started.connect(lambda handle: self._follow(None, handle, "Starting"))
        self.wizard.finished.connect(self.wizard.deleteLater)
        self.wizard.open()
        return self.wizard

    async def migrate_selected(self) -> None:
        row = self.selected()
        if row is None:
            return
        try:
            placement = await call_io(self._use.placement, row.record.host)
        except Exception as exc:
            self.status.setText(f"Cannot read {row.record.host_name}: {exc}")
            return
        targets = [d for d in placement.datastores if d.writable and not d.remote and d.name != row.record.datastore]
        targets += [d for d in placement.datastores if d.name == row.record.datastore]
        dialog = MigrateDialog(row, targets, self)
        try:
            if await ask(dialog) != QDialog.DialogCode.Accepted:
                return
            datastore, connect = dialog.datastore.currentData(), dialog.connect_network.isChecked()
        finally:
            dialog.deleteLater()
        self._submit(row, lambda: self._use.migrate_job(row.record.id, datastore, connect), "Migrating")

    async def discard_selected(self) -> None:
        row = self.selected()
        if row is None:
            return
        try:
            plan = await call_io(self._use.plan_discard, row.record.id)
        except Exception as exc:
            self.status.setText(f"Cannot plan the discard: {exc}")
            return
        dialog = DiscardDialog(plan, self)
        try:
            if await ask(dialog) != QDialog.DialogCode.Accepted:
                return
        finally:
            dialog.deleteLater()
        self._submit(row, lambda: self._use.discard_job(row.record.id), "Discarding")

    def _submit(self, row: InstantRow, make_job: Any, verb: str) -> None:
        try:
            handle = self._scheduler.submit(make_job())
        except Exception as exc:
            self.status.setText(str(exc))
            return
        self._follow(row.record.id, handle, verb)

    def _follow(self, instant_id: str | None, handle: Any, verb: str) -> None:
        if instant_id:
            self._running[instant_id] = handle
        self.job_submitted.emit(handle)
        self.progress.setValue(0)
        self.progress.show()
        self._update_buttons()

        def changed(h: Any) -> None:
            fraction = h.progress.fraction
            self.progress.setValue(int((fraction or 0) * 100))
            self.status.setText(f"{verb}: {h.progress.text}")
            if instant_id:
                self.model.set_progress(instant_id, h.progress.text)
            if h.is_finished:
                self._finished(instant_id, h)

        handle.add_listener(changed)

    def _finished(self, instant_id: str | None, handle: Any) -> None:
        if instant_id:
            self._running.pop(instant_id, None)
        self.progress.hide()
        if handle.error is not None:
            self.status.setText(f"{handle.title} failed: {handle.error}")
        elif handle.result is not None:
            self.status.setText(f"{handle.title}: done")
        self.refresh()

    def closeEvent(self, event: Any) -> None:
        self.timer.stop()
        self._tasks.cancel_all()
        super().closeEvent(event)
