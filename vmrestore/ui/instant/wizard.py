"""The Instant recovery wizard: restore point and host → redo datastore → network and MACs → name → summary.

Nothing changes before the summary's own button, named after the action ("Start web01-restored-…"): the
summary page asks the use case for the full plan (every check a start makes, nothing created), and that
button submits the start job. Every vCenter read runs in an executor; the window keeps painting.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from vmrestore.app.instant.plan import ISOLATED, StartRequest
from vmrestore.model import format_size
from vmrestore.ui.formatting import local_time
from vmrestore.ui.instant.ports import InstantPort, SubmitPort
from vmrestore.ui.tasks import TaskSet, call_io

ESXI_FORMATS = {"vmfs", "vmfssparse", "sesparse"}


def _size(n: int) -> str:
    return format_size(n)  # the app's one size format: a 4 MiB test disk is not "0.0 GiB"


def _label(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    return label


def _named(widget: Any, name: str) -> Any:
    """Give a widget its object name (tests and accessibility tools find it by that name)."""
    widget.setObjectName(name)
    return widget


class WherePage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Restore point and host")
        self.setSubTitle("The VM runs on this host, straight from the backup storage (mounted read-only).")
        self.point = _named(QComboBox(), "instantPoint")
        self.point.setAccessibleName("Restore point")
        self.host = _named(QComboBox(), "instantHost")
        self.host.setAccessibleName("ESXi host")
        self.pool = _named(QLineEdit(placeholderText="the host's or cluster's root pool"), "instantPool")
        self.pool.setAccessibleName("Resource pool (optional)")
        self.folder = _named(QLineEdit(placeholderText="the datacenter's VM folder"), "instantFolder")
        self.folder.setAccessibleName("VM folder (optional)")
        self.note = _label(name="instantWhereNote")
        form = QFormLayout(self)
        form.addRow("Restore &point:", self.point)
        form.addRow("&Host:", self.host)
        form.addRow("Resource p&ool:", self.pool)
        form.addRow("&Folder:", self.folder)
        form.addRow(self.note)
        self.point.currentIndexChanged.connect(self._point_changed)
        self.host.currentIndexChanged.connect(lambda _i: self.completeChanged.emit())

    def _point_changed(self, _index: int) -> None:
        point = self.point.currentData()
        bad = [d.format for d in getattr(point, "disks", ()) if d.format.lower() not in ESXI_FORMATS]
        self.note.setText(f"ESXi cannot run this point: its disks are {', '.join(sorted(set(bad)))} (hosted "
                          "formats). Restore files from it instead." if bad else "")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.point.currentData() is not None and bool(self.host.currentData()) and not self.note.text()


class DatastorePage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Redo datastore")
        self.setSubTitle("A writable datastore for the VM's own files and the delta disks that take every write "
                         "the guest makes. The backup files are never written.")
        self.datastore = _named(QComboBox(), "instantDatastore")
        self.datastore.setAccessibleName("Writable datastore for the deltas")
        self.note = _label(name="instantDatastoreNote")
        layout = QVBoxLayout(self)
        layout.addWidget(self.datastore)
        layout.addWidget(self.note)
        self.datastore.currentIndexChanged.connect(lambda _i: self.completeChanged.emit())

    def isComplete(self) -> bool:
        return bool(self.datastore.currentData())


class NetworkPage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Network and MAC addresses")
        self.setSubTitle("The original VM may still be on the network: isolated is the safe default.")
        self.isolated = _named(QRadioButton("&Isolated: network cards not connected at power-on"), "instantIsolated")
        self.connected = _named(QRadioButton("&Connect to port group:"), "instantConnected")
        self.isolated.setChecked(True)
        self.group = QButtonGroup(self)
        self.group.addButton(self.isolated)
        self.group.addButton(self.connected)
        self.portgroup = _named(QComboBox(), "instantPortgroup")
        self.portgroup.setAccessibleName("Port group")
        self.portgroup.setEnabled(False)
        self.connected.toggled.connect(self.portgroup.setEnabled)
        layout = QVBoxLayout(self)
        layout.addWidget(self.isolated)
        layout.addWidget(self.connected)
        layout.addWidget(self.portgroup)
        layout.addWidget(_label("New MAC addresses are generated and the VM gets a new identity (\"I copied it\"), "
                                "so it never clashes with the original. You can connect the network later, when "
                                "you migrate it to production."))
        layout.addStretch(1)

    def network(self) -> str:
        return self.portgroup.currentText() if self.connected.isChecked() else ISOLATED


class NamePage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Name")
        self.setSubTitle("The name the recovered VM gets in vCenter; a name that exists is refused.")
        self.name = _named(QLineEdit(), "instantName")
        self.name.setAccessibleName("VM name")
        layout = QFormLayout(self)
        layout.addRow("VM &name:", self.name)
        self.name.textChanged.connect(lambda _t: self.completeChanged.emit())

    def isComplete(self) -> bool:
        return bool(self.name.text().strip())


class SummaryPage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Summary")
        self.setSubTitle("Checked with vCenter; nothing has been created yet.")
        self.text = _label("Checking…", "instantSummary")
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addStretch(1)
        self.plan: Any = None

    def isComplete(self) -> bool:
        return self.plan is not None


class InstantWizard(QWizard):
    """``started(handle)`` once the start job is submitted (progress: the Jobs page and the Mounted page)."""

    started = Signal(object)

    def __init__(self, use: InstantPort, scheduler: SubmitPort, point_id: str | None = None, parent: Any = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("instantWizard")
        self.setWindowTitle("Instant recovery")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, False)
        self._use, self._scheduler, self._point_id = use, scheduler, point_id
        self._tasks = TaskSet()
        self.handle: Any = None
        self.where, self.datastores, self.network = WherePage(self), DatastorePage(self), NetworkPage(self)
        self.name_page, self.summary = NamePage(self), SummaryPage(self)
        for page in (self.where, self.datastores, self.network, self.name_page, self.summary):
            self.addPage(page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Start")
        self.currentIdChanged.connect(self._entered)
        self._tasks.spawn(self._load(), name="instant-wizard-load")

    # -- loading ---------------------------------------------------------------------------------
    async def _load(self) -> None:
        try:
            points = await call_io(self._use.points)
            hosts = await call_io(self._use.hosts)
        except Exception as exc:
            self.where.note.setText(f"Cannot list restore points and hosts: {exc}")
            return
        for p in points:
            self.where.point.addItem(f"{p.vm} — {local_time(p.created)[:16]} ({p.repo})", p)
            if p.id == self._point_id:
                self.where.point.setCurrentIndex(self.where.point.count() - 1)
        for h in hosts:
            self.where.host.addItem(h.name, h.moid)

    def _entered(self, page_id: int) -> None:
        page = self.page(page_id)
        if page is self.datastores:
            self._tasks.spawn(self._load_placement(), name="instant-wizard-placement")
        elif page is self.name_page and not self.name_page.name.text():
            self.name_page.name.setText(self._use.default_name(self.where.point.currentData().vm))
        elif page is self.summary:
            name = self.name_page.name.text().strip()
            self.setButtonText(QWizard.WizardButton.FinishButton, f"Start {name}")
            self.summary.plan = None
            self.summary.text.setText("Checking with vCenter…")
            self.summary.completeChanged.emit()
            self._tasks.spawn(self._plan(), name="instant-wizard-plan")

    async def _load_placement(self) -> None:
        combo, note = self.datastores.datastore, self.datastores.note
        combo.clear()
        note.setText("Reading the host's datastores…")
        try:
            placement = await call_io(self._use.placement, self.where.host.currentData())
        except Exception as exc:
            note.setText(f"Cannot read the host: {exc}")
            return
        writable = sorted((d for d in placement.datastores if d.writable and not d.remote),
                          key=lambda d: -d.free_space)
        for d in writable:
            combo.addItem(f"{d.name} — {_size(d.free_space)} free of {_size(d.capacity)}", d.name)
        note.setText("" if writable else f"{placement.host_name} has no writable datastore.")
        self.network.portgroup.clear()
        self.network.portgroup.addItems(list(placement.networks))

    def request(self) -> StartRequest:
        return StartRequest(
            point=self.where.point.currentData().id, host=self.where.host.currentData(),
            datastore=self.datastores.datastore.currentData(), pool=self.where.pool.text().strip() or None,
            folder=self.where.folder.text().strip() or None, name=self.name_page.name.text().strip(),
            network=self.network.network())

    async def _plan(self) -> None:
        try:
            plan = await call_io(self._use.plan_start, self.request())
        except Exception as exc:
            self.summary.text.setText(f"Cannot start: {exc}")
            return
        disks = "".join(f"<li>{d.slot}: {d.file} ({d.format}, {_size(d.capacity)})</li>" for d in plan.disks)
        network = plan.network or "isolated (not connected), new MAC addresses"
        mount = (f"reuse {plan.reuse.name} (already mounted read-only)" if plan.reuse
                 else f"mount {plan.export} read-only")
        self.summary.text.setText(
            f"<b>{plan.name}</b> from {plan.point.vm}, restore point {local_time(plan.point.created)[:16]}<br>"
            f"Host: {plan.placement.host_name}<br>Backup: {mount}<br>"
            f"Redo datastore: {plan.datastore.name} ({_size(plan.datastore.free_space)} free, "
            f"{_size(plan.needed_bytes)} asked for swap and deltas)<br>Network: {network}<br>"
            f"{plan.hardware.cpus} vCPU, {plan.hardware.memory_mb} MB, {plan.hardware.firmware.upper()}, "
            f"vmx-{plan.hw_version or '?'}<br>Disks, each a linked delta over the backup:<ul>{disks}</ul>"
            "The VM is powered on; migrate it to production storage or discard it from the Mounted page.")
        self.summary.plan = plan
        self.summary.completeChanged.emit()

    # -- the action ------------------------------------------------------------------------------
    def accept(self) -> None:
        plan = self.summary.plan
        if plan is None or self.handle is not None:
            return
        self.handle = self._scheduler.submit(self._use.start_job(plan))
        self.started.emit(self.handle)
        super().accept()

    def done(self, result: int) -> None:
        self._tasks.cancel_all()
        super().done(result)
