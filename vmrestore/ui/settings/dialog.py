"""Tools › Settings…: repositories, vCenter, catalog, snapshots, leases and appearance in one dialog.

Every tab only asks and shows: the app's use cases validate, check the role and write the audit entry
(``RepositoryAdmin``, ``SettingsEditor``, ``CertificatePins``, the same as ``vmrestore repo …`` and
``vmrestore settings …``). Admin-only entries are greyed out for helpdesk with the reason on the tab. OK and
Apply save every changed field at once, or none when one is invalid (the message names it and the field
gets the focus).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vmrestore.app.settings_edit import APPEARANCES, RULES, admin_reason

from ..errors import describe, show_error
from ..tasks import TaskSet, ask, call_io
from .catalog_tab import CatalogTab
from .repositories_tab import RepositoriesTab, reason_label
from .repository_form import FolderPicker

log = logging.getLogger(__name__)

TABS = ("repositories", "vcenter", "catalog", "snapshots", "leases", "appearance")


class SettingsDialog(QDialog):
    """The settings of this workstation; ``tab`` names the page to open on (see ``TABS``)."""

    appearanceChanged = Signal(str)
    repositoriesChanged = Signal()

    def __init__(self, services: Any, parent: QWidget | None = None, *, tab: str = "repositories",
                 open_connect: Callable[[QWidget], Any] | None = None,
                 pick_folder: FolderPicker | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._tasks = TaskSet()
        self._open_connect = open_connect
        settings = services.settings
        self.editor = services.settings_editor  # the composition root's use cases, as the CLI's
        self.admin = services.repositories
        self.pins = services.certificates
        self.reason = admin_reason(settings.role, bool(getattr(settings, "role_locked", False)))
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.setMinimumSize(720, 480)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("settingsTabs")
        self.repositories = RepositoriesTab(services, self.admin, self.reason, self, pick_folder)
        self.repositories.changed.connect(self.repositoriesChanged)
        self.tabs.addTab(self.repositories, "&Repositories")
        self.tabs.addTab(self._vcenter_tab(), "v&Center")
        self.catalog = CatalogTab(services, self.reason, self)
        self.catalog_edit = self.catalog.file_edit  # the embedded file field (its name before the shared choice)
        self.tabs.addTab(self.catalog, "Cata&log")
        self.tabs.addTab(self._snapshots_tab(), "S&napshots")
        self.tabs.addTab(self._leases_tab(), "Lea&ses")
        self.tabs.addTab(self._appearance_tab(), "&Appearance")
        self.tabs.setCurrentIndex(TABS.index(tab) if tab in TABS else 0)

        self.error_label = QLabel("", self)
        self.error_label.setObjectName("settingsError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.setAccessibleName("Settings error")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.Apply, self)
        self.buttons.button(QDialogButtonBox.StandardButton.Apply).setText("A&pply")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("OK")
        self.buttons.accepted.connect(lambda: self._tasks.spawn(self.save(close=True), name="settings-save"))
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(
            lambda: self._tasks.spawn(self.save(close=False), name="settings-apply"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self._tasks.spawn(self.repositories.reload(), name="repo-reload")
        self._tasks.spawn(self.reload_pins(), name="pins-reload")

    # -- tabs --------------------------------------------------------------------------------------
    def _form_tab(self, intro: str, admin_only: bool) -> tuple[QWidget, QFormLayout]:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        text = QLabel(intro, page)
        text.setWordWrap(True)
        layout.addWidget(text)
        if admin_only:
            layout.addWidget(reason_label(page, self.reason))
        form = QFormLayout()
        layout.addLayout(form)
        layout.addStretch(1)
        return page, form

    def _vcenter_tab(self) -> QWidget:
        page = QWidget(self)
        identity = self._services.connection.identity
        settings = self._services.settings
        now = (f"Connected to <b>{identity.server}</b> as {identity.user}." if identity else "Not connected.")
        last = f" Last server: {settings.last_server} ({settings.last_user})." if settings.last_server else ""
        self.vcenter_state = QLabel(now + last, page)
        self.vcenter_state.setObjectName("vcenterState")
        self.vcenter_state.setWordWrap(True)
        self.connect_button = QPushButton("C&onnect…", page)
        self.connect_button.setObjectName("settingsConnect")
        self.connect_button.setAccessibleName("Connect to a vCenter")
        self.connect_button.setEnabled(self._open_connect is not None)
        self.connect_button.clicked.connect(lambda: self._open_connect(self) if self._open_connect else None)
        self.pins_table = QTableWidget(0, 2, page)
        self.pins_table.setObjectName("pinnedCertificates")
        self.pins_table.setAccessibleName("Pinned vCenter certificates")
        self.pins_table.setHorizontalHeaderLabels(["Server", "SHA-256 thumbprint"])
        self.pins_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.pins_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.pins_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.pins_table.setTabKeyNavigation(False)
        self.pins_table.verticalHeader().hide()
        self.pins_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.pins_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.forget_button = QPushButton("&Forget certificate", page)
        self.forget_button.setObjectName("forgetCertificate")
        self.forget_button.setToolTip(self.reason or "The next connection to this server asks again")
        self.forget_button.setEnabled(False)
        self.forget_button.clicked.connect(lambda: self._tasks.spawn(self.forget_selected(), name="forget-pin"))
        self.pins_table.itemSelectionChanged.connect(
            lambda: self.forget_button.setEnabled(self.reason is None and bool(self.pins_table.selectedItems())))
        row = QHBoxLayout()
        row.addWidget(self.connect_button)
        row.addStretch(1)
        row.addWidget(self.forget_button)
        layout = QVBoxLayout(page)
        layout.addWidget(self.vcenter_state)
        layout.addLayout(row)
        pins_label = QLabel("Certificates you trusted (pinned): a server whose certificate changes is refused "
                            "loudly. Forget a pin after the vCenter's certificate was replaced on purpose.", page)
        pins_label.setWordWrap(True)
        layout.addWidget(pins_label)
        layout.addWidget(reason_label(page, self.reason))
        layout.addWidget(self.pins_table, 1)
        return page

    async def reload_pins(self) -> None:
        try:
            pins = await call_io(self.pins.list)
        except Exception:
            log.warning("Could not read the pinned certificates", exc_info=True)
            return
        self.pins_table.setRowCount(len(pins))
        for row, (server, thumbprint) in enumerate(pins.items()):
            self.pins_table.setItem(row, 0, QTableWidgetItem(server))
            self.pins_table.setItem(row, 1, QTableWidgetItem(thumbprint))

    async def forget_selected(self) -> None:
        rows = self.pins_table.selectionModel().selectedRows()
        if not rows:
            return
        item = self.pins_table.item(rows[0].row(), 0)
        if item is None:
            return
        server = item.text()
        try:
            await call_io(self.pins.forget, server)
        except Exception as exc:
            show_error(self, exc, context="The certificate stays pinned.")
            return
        await self.reload_pins()

    def _snapshots_tab(self) -> QWidget:
        settings = self._services.settings
        page, form = self._form_tab(
            "The snapshot watch scans vCenter in the background and notifies you (tray) about snapshots left "
            "behind by backup tools and datastores filling with snapshot data.", True)
        self.watch_spin = QSpinBox(page)
        self.watch_spin.setObjectName("watchMinutes")
        self.watch_spin.setRange(0, 24 * 60)
        self.watch_spin.setSpecialValueText("off")
        self.watch_spin.setSuffix(" min")
        self.watch_spin.setValue(int(settings.snapshot_watch_minutes))
        self.age_spin = QSpinBox(page)
        self.age_spin.setObjectName("maxAgeDays")
        self.age_spin.setRange(1, 3650)
        self.age_spin.setSuffix(" days")
        self.age_spin.setValue(int(settings.snapshot_max_age_days))
        self.min_age_spin = QSpinBox(page)
        self.min_age_spin.setObjectName("cleanupMinAgeHours")
        self.min_age_spin.setRange(0, 24 * 365)
        self.min_age_spin.setSpecialValueText("off")
        self.min_age_spin.setSuffix(" h")
        self.min_age_spin.setValue(int(settings.snapshot_cleanup_min_age_hours))
        self.patterns_edit = QPlainTextEdit("\n".join(settings.leftover_patterns), page)
        self.patterns_edit.setObjectName("leftoverPatterns")
        self.patterns_edit.setTabChangesFocus(True)
        self.patterns_edit.setFixedHeight(110)
        for widget, text, name in (
            (self.watch_spin, "&Watch interval:", "Snapshot watch interval in minutes, 0 is off"),
            (self.age_spin, "Flag snapshots &older than:", "Snapshot age limit in days"),
            (self.min_age_spin, "Cleanup ne&ver offers snapshots\nyounger than:",
             "A cleanup never offers snapshots younger than this many hours, 0 is off"),
            (self.patterns_edit, "Le&ftover name patterns\n(one per line, * and ?):", "Leftover snapshot patterns"),
        ):
            widget.setAccessibleName(name)
            widget.setEnabled(self.reason is None)
            label = QLabel(text, page)
            label.setBuddy(widget)
            form.addRow(label, widget)
        return page

    def _leases_tab(self) -> QWidget:
        settings = self._services.settings
        page, form = self._form_tab(
            "A disk mounted into a VM for file restore, or a VM started from backup, is removed automatically "
            "when its lease ends (unless extended), so nothing is left attached by accident.", True)
        self.lease_spin = QSpinBox(page)
        self.lease_spin.setObjectName("leaseHours")
        self.lease_spin.setRange(1, 7 * 24)
        self.lease_spin.setSuffix(" h")
        self.lease_spin.setValue(int(settings.default_lease_hours))
        self.lease_spin.setAccessibleName("Default lease in hours")
        self.lease_spin.setEnabled(self.reason is None)
        label = QLabel("&Hours before a mount ends:", page)
        label.setBuddy(self.lease_spin)
        form.addRow(label, self.lease_spin)
        return page

    def _appearance_tab(self) -> QWidget:
        settings = self._services.settings
        page, form = self._form_tab("Light, dark, or follow Windows' own setting.", False)
        self.appearance_combo = QComboBox(page)
        self.appearance_combo.setObjectName("appearance")
        self.appearance_combo.setAccessibleName("Appearance")
        for value in APPEARANCES:
            self.appearance_combo.addItem({"system": "As Windows (system)", "light": "Light", "dark": "Dark"}[value],
                                          value)
        self.appearance_combo.setCurrentIndex(max(0, self.appearance_combo.findData(settings.appearance)))
        label = QLabel("&Theme:", page)
        label.setBuddy(self.appearance_combo)
        form.addRow(label, self.appearance_combo)
        return page

    # -- saving ------------------------------------------------------------------------------------
    def changes(self) -> dict[str, Any]:
        values: dict[str, Any] = {"appearance": self.appearance_combo.currentData()}
        if self.reason is None:
            values.update(
                catalog_location=self.catalog.location(),
                snapshot_watch_minutes=self.watch_spin.value(),
                snapshot_max_age_days=self.age_spin.value(),
                snapshot_cleanup_min_age_hours=self.min_age_spin.value(),
                leftover_patterns=self.patterns_edit.toPlainText(),
                default_lease_hours=self.lease_spin.value(),
            )
        return values

    def _field_of(self, key: str) -> tuple[str, QWidget]:
        return {
            "catalog_location": ("catalog", self.catalog.field()),
            "snapshot_watch_minutes": ("snapshots", self.watch_spin),
            "snapshot_max_age_days": ("snapshots", self.age_spin),
            "snapshot_cleanup_min_age_hours": ("snapshots", self.min_age_spin),
            "leftover_patterns": ("snapshots", self.patterns_edit),
            "default_lease_hours": ("leases", self.lease_spin),
        }.get(key, ("appearance", self.appearance_combo))

    async def save(self, *, close: bool) -> list[str] | None:
        changes = self.changes()
        # Validate field by field first, to point at the bad one; then save all at once (or nothing).
        for key, value in changes.items():
            try:  # off the Qt thread: a shared catalog's URL is checked by connecting to it
                await call_io(self.editor.validate, {key: value})
            except Exception as exc:
                tab, widget = self._field_of(key)
                self.tabs.setCurrentIndex(TABS.index(tab))
                widget.setFocus()
                self.error_label.setText(f"{RULES[key].label}: {describe(exc).text}")
                return None
        try:
            changed: list[str] = await call_io(self.editor.update, changes)
        except Exception as exc:
            self.error_label.setText(describe(exc).text)
            return None
        self.error_label.setText("")
        for notice in self.editor.notices:  # e.g. a catalog password kept for this session only
            await ask(QMessageBox(QMessageBox.Icon.Information, "Settings", notice, parent=self))
        if "appearance" in changed:
            self.appearanceChanged.emit(self._services.settings.appearance)
        if close:
            self.accept()
        return changed

    def done(self, result: int) -> None:
        self._tasks.cancel_all()
        self.repositories.close_tasks()
        super().done(result)
