"""“Restore into VM…”: files picked in the catalog go back *inside* a running VM.

Pages: target VM (default: the backup's own VM, search by name) → method (hot-add when ESXi can open
the backup's format, guest copy otherwise, with the reason) → options (drive letter and lease, or a
destination folder; the guest login) → plan with a button naming the action → progress (the job is
also on the Jobs page) → done ("Copy to…" and "Unmount" for a mount).

The rules are the app's (``HotAdd``, ``HotAddSessions``, ``FilesPush``): the same use cases the CLI
calls. This module only asks and shows; every vSphere or disk call runs in an executor or a job.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, QStringListModel, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from vmrestore.app.guest_credentials import resolve_guest_credentials
from vmrestore.app.guest_push import FilesPush
from vmrestore.app.hotadd import HotAdd, MountSession, MountStartRequest
from vmrestore.app.hotadd_session import HotAddSessions
from vmrestore.model import JobState, RestorePoint

from ..errors import describe
from ..tasks import TaskSet, call_io

PAGE_TARGET, PAGE_METHOD, PAGE_OPTIONS, PAGE_PLAN, PAGE_RUN = range(5)
LETTERS = [chr(c) for c in range(ord("R"), ord("Z") + 1)] + [chr(c) for c in range(ord("D"), ord("R"))]


def _label(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


class RestoreIntoVmWizard(QDialog):
    """The wizard; ``services`` is the app's services bag (connection, catalog, leases, scheduler...)."""

    def __init__(self, services: Any, point: RestorePoint, paths: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self.point = point
        self.paths = paths
        self.hotadd = HotAdd(services.connection, services.catalog, services.leases, services, services,
                             services.paths.home)
        self.disk = int(paths[0].split("/")[1][4:]) if paths and paths[0].startswith("/disk") else 0
        self._tasks = TaskSet()
        self.handle: Any = None
        self.session: MountSession | None = None
        self.setObjectName("restoreIntoVmWizard")
        self.setWindowTitle("Restore into VM")
        self.setAccessibleName("Restore into VM")
        self.setMinimumSize(640, 460)
        self.stack = QStackedWidget(self)
        self.heading = QLabel(self)
        self.heading.setObjectName("wizardHeading")
        self.stack.addWidget(self._target_page())
        self.stack.addWidget(self._method_page())
        self.stack.addWidget(self._options_page())
        self.stack.addWidget(self._plan_page())
        self.stack.addWidget(self._run_page())

        self.back_button = QPushButton("< &Back", self)
        self.next_button = QPushButton("&Next >", self)
        self.action_button = QPushButton(self)
        self.action_button.setObjectName("wizardAction")
        self.close_button = QPushButton("&Close", self)
        self.back_button.clicked.connect(lambda: self.go(self.stack.currentIndex() - 1))
        self.next_button.clicked.connect(lambda: self.go(self.stack.currentIndex() + 1))
        self.action_button.clicked.connect(self.run)
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.back_button, self.next_button, self.action_button, self.close_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)
        self.go(PAGE_TARGET)
        self._tasks.spawn(self._load_vms(), name="restore-vm-targets")

    # -- pages -------------------------------------------------------------------------------------------
    def _target_page(self) -> QWidget:
        page = QWidget(self)
        self.vm_search = QLineEdit(page)
        self.vm_search.setPlaceholderText("Search by name")
        self.vm_search.setAccessibleName("Search VMs by name")
        self.vm_model = QStringListModel(page)
        self.vm_proxy = QSortFilterProxyModel(page)
        self.vm_proxy.setSourceModel(self.vm_model)
        self.vm_proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.vm_search.textChanged.connect(self.vm_proxy.setFilterFixedString)
        self.vm_list = QListView(page)
        self.vm_list.setObjectName("targetVmList")
        self.vm_list.setAccessibleName("Target VM")
        self.vm_list.setModel(self.vm_proxy)
        self.vm_status = QLabel("Reading the VMs…", page)
        layout = QVBoxLayout(page)
        layout.addWidget(_label(f"Put {len(self.paths)} item(s) from <b>{self.point.vm}</b> "
                                f"({self.point.created:%Y-%m-%d %H:%M}) back into which running VM?", page))
        layout.addWidget(self.vm_search)
        layout.addWidget(self.vm_list, 1)
        layout.addWidget(self.vm_status)
        return page

    def _method_page(self) -> QWidget:
        page = QWidget(self)
        self.hotadd_radio = QRadioButton("&Hot-add the backup disk: a drive letter in the VM, copy from there", page)
        self.push_radio = QRadioButton("&Copy the files into the VM over VMware Tools", page)
        self.method_reason = _label("", page)
        self.method_reason.setObjectName("methodReason")
        layout = QVBoxLayout(page)
        layout.addWidget(self.hotadd_radio)
        layout.addWidget(self.push_radio)
        layout.addWidget(self.method_reason)
        layout.addStretch(1)
        possible, why = HotAdd.method_for(self.point, self.disk)
        self.hotadd_radio.setEnabled(possible)
        (self.hotadd_radio if possible else self.push_radio).setChecked(True)
        self.method_reason.setText(why)
        return page

    def _options_page(self) -> QWidget:
        page = QWidget(self)
        self.letter_combo = QComboBox(page)
        self.letter_combo.setAccessibleName("Drive letter in the guest")
        self.letter_combo.addItem("Next free letter", None)
        for letter in LETTERS:
            self.letter_combo.addItem(f"{letter}:", letter)
        self.lease_spin = QSpinBox(page)
        self.lease_spin.setAccessibleName("Lease in hours")
        self.lease_spin.setRange(1, 72)
        self.lease_spin.setSuffix(" h")
        self.lease_spin.setValue(self._services.settings.default_lease_hours)  # Settings › Leases
        self.dest_edit = QLineEdit("C:\\Restore", page)
        self.dest_edit.setAccessibleName("Destination folder in the guest")
        self.if_exists = QComboBox(page)
        self.if_exists.setAccessibleName("If a file exists in the guest")
        for key, text in (("keep-both", "Keep both"), ("overwrite", "Overwrite"), ("skip", "Skip")):
            self.if_exists.addItem(text, key)
        self.user_edit = QLineEdit(os.environ.get("VMRESTORE_GUEST_USERNAME", ""), page)
        self.user_edit.setAccessibleName("Guest user")
        self.user_edit.setPlaceholderText("DOMAIN\\user or root")
        self.password_edit = QLineEdit(page)
        self.password_edit.setAccessibleName("Guest password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.save_check = QCheckBox("&Save the guest password in the Windows credential store", page)
        self.form = QFormLayout(page)
        self.form.addRow("Drive &letter:", self.letter_combo)
        self.form.addRow("&Lease:", self.lease_spin)
        self.form.addRow("&Destination:", self.dest_edit)
        self.form.addRow("If a file &exists:", self.if_exists)
        self.form.addRow("Guest &user:", self.user_edit)
        self.form.addRow("Guest &password:", self.password_edit)
        self.form.addRow("", self.save_check)
        return page

    def _plan_page(self) -> QWidget:
        page = QWidget(self)
        self.plan_label = _label("", page)
        self.plan_label.setObjectName("planText")
        layout = QVBoxLayout(page)
        layout.addWidget(self.plan_label)
        layout.addStretch(1)
        return page

    def _run_page(self) -> QWidget:
        page = QWidget(self)
        self.run_label = _label("Starting…", page)
        self.run_label.setObjectName("runText")
        self.copy_dest = QLineEdit("C:\\Restore", page)
        self.copy_dest.setAccessibleName("Copy the picked files to this folder in the guest")
        self.copy_button = QPushButton("&Copy to…", page)
        self.copy_button.setObjectName("copyButton")
        self.unmount_button = QPushButton("&Unmount", page)
        self.unmount_button.setObjectName("unmountButton")
        self.copy_button.clicked.connect(lambda: self._tasks.spawn(self.copy_picked(), name="guest-copy"))
        self.unmount_button.clicked.connect(lambda: self._tasks.spawn(self.unmount(), name="unmount"))
        self.done_row = QWidget(page)
        row = QHBoxLayout(self.done_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Copy the picked files to:", self.done_row))
        row.addWidget(self.copy_dest, 1)
        row.addWidget(self.copy_button)
        row.addWidget(self.unmount_button)
        self.done_row.setVisible(False)
        layout = QVBoxLayout(page)
        layout.addWidget(self.run_label)
        layout.addWidget(self.done_row)
        layout.addStretch(1)
        return page

    # -- navigation --------------------------------------------------------------------------------------
    @property
    def hot_add(self) -> bool:
        return self.hotadd_radio.isChecked()

    def target_vm(self) -> str | None:
        index = self.vm_list.currentIndex()
        return str(index.data()) if index.isValid() else None

    def go(self, page: int) -> None:
        page = max(PAGE_TARGET, min(PAGE_RUN, page))
        titles = ["Target VM", "Method", "Options", "Plan", "Progress"]
        self.heading.setText(f"<h3>Restore into VM — {titles[page]}</h3>")
        if page == PAGE_OPTIONS:
            rows: list[tuple[QWidget, bool]] = [(self.letter_combo, self.hot_add), (self.lease_spin, self.hot_add),
                                                (self.dest_edit, not self.hot_add), (self.if_exists, not self.hot_add)]
            for widget, visible in rows:
                self.form.setRowVisible(widget, visible)
        if page == PAGE_PLAN:
            self.plan_label.setText(self.plan_text())
        self.stack.setCurrentIndex(page)
        self.back_button.setEnabled(PAGE_TARGET < page < PAGE_RUN)
        self.next_button.setVisible(page < PAGE_PLAN)
        self.next_button.setEnabled(page != PAGE_TARGET or self.target_vm() is not None)
        self.action_button.setVisible(page == PAGE_PLAN)
        self.action_button.setText(self.action_text())

    def action_text(self) -> str:
        vm = self.target_vm() or "the VM"
        if self.hot_add:
            letter = self.letter_combo.currentData()
            return f"&Mount {letter + ':' if letter else 'the disk'} on {vm}"
        return f"&Copy {len(self.paths)} item(s) into {vm}"

    def plan_text(self) -> str:
        vm = self.target_vm()
        items = "<br>".join(p for p in self.paths[:8]) + ("<br>…" if len(self.paths) > 8 else "")
        if self.hot_add:
            letter = self.letter_combo.currentData()
            return (f"<b>{vm}</b> gets the backup disk {self.disk} of {self.point.vm} "
                    f"({self.point.created:%Y-%m-%d %H:%M}) as {letter + ':' if letter else 'the next free letter'}, "
                    f"read-only, for {self.lease_spin.value()} h. The backup files are never written: the VM writes "
                    f"to a temporary delta next to it, removed on Unmount or when the lease ends.<br><br>"
                    f"Then you copy:<br>{items}")
        return (f"Copies into <b>{vm}</b>:{self.dest_edit.text()} (if a file exists: "
                f"{self.if_exists.currentText().lower()}):<br>{items}")

    async def _load_vms(self) -> None:
        try:
            vms = await call_io(self.hotadd.target_vms)
        except Exception as exc:
            self.vm_status.setText(f"Could not read the VMs: {describe(exc).text}")
            return
        names = [v.name for v in vms if v.power_state == "poweredOn"]
        self.vm_model.setStringList(names)
        self.vm_status.setText(f"{len(names)} running VM(s)")
        self.vm_list.selectionModel().currentChanged.connect(lambda *_: self.go(self.stack.currentIndex()))
        if self.point.vm in names:
            self.vm_list.setCurrentIndex(self.vm_proxy.mapFromSource(self.vm_model.index(names.index(self.point.vm))))
        self.go(self.stack.currentIndex())

    # -- running -----------------------------------------------------------------------------------------
    def _credentials(self) -> Any:
        identity = self._services.connection.identity
        password = self.password_edit.text()
        return resolve_guest_credentials(self._services.secrets, identity.server if identity else "vcenter",
                                         self.user_edit.text().strip() or None, lambda _user: password,
                                         save=self.save_check.isChecked())

    def run(self) -> None:
        self._tasks.spawn(self._run(), name="restore-into-vm")

    async def _run(self) -> None:
        self.go(PAGE_RUN)
        self.back_button.setEnabled(False)
        vm = self.target_vm() or ""
        try:
            creds = self._credentials()
            if self.hot_add:
                from datetime import timedelta

                request = MountStartRequest(point=self.point.id, vm=vm, disk=self.disk,
                                            letter=self.letter_combo.currentData(),
                                            ttl=timedelta(hours=self.lease_spin.value()))
                job: Any = self.hotadd.start(request, creds)
            else:
                job = FilesPush(self.hotadd, self._services.catalog).push(
                    self.point.id, self.paths, vm, self.dest_edit.text().strip(), creds, self.if_exists.currentData())
        except Exception as exc:
            self.run_label.setText(f"<b>Not started:</b> {describe(exc).text}")
            return
        result = await self._follow(job)
        if result is None:
            return
        if self.hot_add:
            self.session = result
            letter = f"{result.letter}:" if result.letter else "a new drive"
            self.run_label.setText(
                f"<b>Mounted as {letter} in {result.vm}</b> until {result.expires:%H:%M} UTC "
                f"(session {result.session}). Copy the picked files below, or open {letter} in the VM yourself; "
                "the Mounted page has Extend and Unmount.")
            self.done_row.setVisible(True)
        else:
            self.run_label.setText(f"<b>{result.files} file(s) copied into {vm}:{self.dest_edit.text()}</b>"
                                   + (f"; {len(result.skipped)} skipped" if result.skipped else "")
                                   + (f"; {len(result.failed)} failed" if result.failed else ""))

    async def _follow(self, job: Any) -> Any:
        """Submit ``job``, mirror its progress here, return its result (None when it failed)."""
        self.handle = handle = self._services.scheduler.submit(job)
        handle.add_listener(lambda h: self.run_label.setText(h.progress.text or "Working…")
                            if not h.is_finished else None)
        result = await handle.wait()
        if handle.state is not JobState.DONE:
            error = handle.error
            self.run_label.setText(f"<b>Failed:</b> {describe(error).text if error else 'cancelled'}")
            return None
        return result

    async def copy_picked(self) -> None:
        if self.session is None:
            return
        try:
            job = HotAddSessions(self.hotadd).copy(self.session.session, self.paths, self.copy_dest.text().strip(),
                                                   self._credentials())
        except Exception as exc:
            self.run_label.setText(f"<b>Not copied:</b> {describe(exc).text}")
            return
        result = await self._follow(job)
        if result is not None:
            counts = "" if result.files is None else f": {result.files} file(s), {result.failed} failed"
            self.run_label.setText(f"<b>Copied inside the VM to {self.copy_dest.text()}</b>{counts}")

    async def unmount(self) -> None:
        if self.session is None:
            return
        creds: Callable[[], Any] | Any = None
        try:
            creds = self._credentials()
        except Exception:
            creds = None
        result = await self._follow(HotAddSessions(self.hotadd).stop(self.session.session, creds))
        if result is not None:
            self.run_label.setText(f"<b>Unmounted</b> (session {result.session})")
            self.done_row.setVisible(False)
            self.session = None
