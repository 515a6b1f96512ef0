"""The cleanup wizard (admin only): criteria → the plan, with its own "Remove N snapshots" button → report.

The wizard decides nothing itself: the plan (what ``snapshots cleanup --dry-run`` prints: what would be
removed, what is held back and what the pre-flight blocks, each with its reason), the run and the
verification are the ``CleanupSnapshots`` use case's. Nothing is removed by "Next >": only the plan
page's button, whose text names the count, starts the run, and only once; after a run, going back and
forward again shows that it ran and never runs it again (a new plan needs a new scan). Long steps run as
asyncio tasks on the qasync loop; results come back as values and errors are shown as text, never raised
into a slot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from vmrestore.app.snapshots.cleanup import CleanupCriteria, CleanupPlan, CleanupReport, DryRun, PlanItem
from vmrestore.app.snapshots.types import SnapshotClass, SnapshotReport
from vmrestore.model import format_size

log = logging.getLogger(__name__)

PAGE_CRITERIA, PAGE_PLAN, PAGE_REPORT = range(3)

Listener = Callable[[str, PlanItem | None, str], None]


class CleanupPort(Protocol):
    """What the wizard asks of the cleanup use case (``app.snapshots.cleanup.CleanupSnapshots``)."""

    async def dry_run(
        self, report: SnapshotReport, criteria: CleanupCriteria, *, remove_children: bool = False
    ) -> DryRun: ...

    async def run(self, plan: CleanupPlan, *, listener: Listener | None = None) -> CleanupReport: ...

    def cancel(self) -> None: ...


def remove_text(count: int) -> str:
    return f"&Remove {count} snapshot" + ("" if count == 1 else "s")


class CriteriaPage(QWizardPage):
    def __init__(self, default_age_days: float, min_age_hours: float, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Which snapshots?")
        self.setSubTitle("Every ticked condition must hold. Nothing is removed before you have seen the plan.")
        form = QFormLayout(self)
        self.class_boxes: dict[SnapshotClass, QCheckBox] = {}
        for klass, label, on in (
            (SnapshotClass.LEFTOVER, "&Left behind by a backup tool", True),
            (SnapshotClass.LARGE, "La&rge", False),
            (SnapshotClass.RISKY, "R&isky (datastore filling up, consolidation needed)", False),
        ):
            box = QCheckBox(label)
            box.setChecked(on)
            box.setAccessibleName(f"Class {klass.value}")
            self.class_boxes[klass] = box
            form.addRow(box)
        # The one age control: the settings' age limit is its default.
        self.use_age = QCheckBox("&Older than (days)")
        self.use_age.setChecked(True)
        self.use_age.setAccessibleName("Only snapshots older than")
        self.age = QDoubleSpinBox()
        self.age.setRange(0, 3650)
        self.age.setDecimals(1)
        self.age.setValue(default_age_days)
        self.age.setAccessibleName("Minimum age in days")
        self.use_age.toggled.connect(self.age.setEnabled)
        form.addRow(self.use_age, self.age)
        self.remove_children = QCheckBox("Remove &child snapshots together with a selected snapshot")
        form.addRow(self.remove_children)
        guard = QLabel("Never offered: " + (f"a snapshot younger than {min_age_hours:g} hours, or " if min_age_hours > 0
                                            else "") + "a snapshot of a VM with a task queued or running "
                       "(a backup in progress is most likely using it).")
        guard.setWordWrap(True)
        form.addRow(guard)
        for box in (*self.class_boxes.values(), self.use_age):
            box.toggled.connect(lambda _on: self.completeChanged.emit())

    def criteria(self) -> CleanupCriteria:
        classes = frozenset(k for k, box in self.class_boxes.items() if box.isChecked())
        return CleanupCriteria(older_than_days=self.age.value() if self.use_age.isChecked() else None,
                               classes=classes)

    def isComplete(self) -> bool:
        return not self.criteria().empty


class PlanPage(QWizardPage):
    """The plan as ``--dry-run`` prints it, untick to keep, and the one button that runs it."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("The plan")
        self.setSubTitle("These snapshots would be removed now. Untick one to keep it. Nothing is removed until "
                         "you press the Remove button.")
        layout = QVBoxLayout(self)
        self.list = QTreeWidget()
        self.list.setAccessibleName("Snapshots to remove")
        self.list.setHeaderLabels(["Snapshot", "VM", "Age (days)", "Size", "Datastore", "Reasons"])
        self.list.setRootIsDecorated(False)
        layout.addWidget(self.list, 3)
        self.kept_label = QLabel("Not offered")
        layout.addWidget(self.kept_label)
        self.kept = QTreeWidget()
        self.kept.setAccessibleName("Snapshots not offered, with the reason")
        self.kept.setHeaderLabels(["Snapshot", "VM", "Why not"])
        self.kept.setRootIsDecorated(False)
        layout.addWidget(self.kept, 1)
        self.total = QLabel()
        self.total.setAccessibleName("Plan total")
        layout.addWidget(self.total)
        row = QHBoxLayout()
        self.run_button = QPushButton(remove_text(0))
        self.run_button.setAccessibleName("Remove the ticked snapshots")
        self.run_button.setAutoDefault(False)  # Enter never starts a removal
        self.run_button.setEnabled(False)
        self.stop_button = QPushButton("&Stop after the current snapshot")
        self.stop_button.setAccessibleName("Stop the cleanup")
        self.stop_button.setAutoDefault(False)
        self.stop_button.setEnabled(False)
        row.addWidget(self.run_button)
        row.addWidget(self.stop_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Cleanup progress")
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setAccessibleName("Cleanup log")
        self.log.setMaximumHeight(90)
        self.log.setVisible(False)
        layout.addWidget(self.log)
        self.dry: DryRun | None = None
        self.finished = False
        self.list.itemChanged.connect(self._update_total)

    def show_loading(self) -> None:
        self.dry = None
        self.list.clear()
        self.kept.clear()
        self.total.setText("Making the plan (checking running tasks, free space, hosts)…")
        self.run_button.setText(remove_text(0))
        self.run_button.setEnabled(False)

    def show_error(self, text: str) -> None:
        self.total.setText(f"The plan could not be made: {text}")

    def show_done(self) -> None:
        """After a run: the wizard never runs again; a new plan needs a new scan."""
        self.run_button.setEnabled(False)
        self.total.setText("The cleanup ran. Close the wizard; the page scans again, then plan a new cleanup.")

    def set_dry_run(self, dry: DryRun) -> None:
        self.dry = dry
        self.list.blockSignals(True)
        self.list.clear()
        for item in dry.offered.items:
            s = next((c for c in dry.plan.report.snapshots if c.moref == item.moref), None)
            age = f"{s.age_days:.1f}" if s is not None else ""
            row = QTreeWidgetItem([item.name, item.vm, age, format_size(item.size), item.datastore,
                                   "; ".join(item.reasons)])
            row.setData(0, Qt.ItemDataRole.UserRole, item.moref)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(0, Qt.CheckState.Checked)
            row.setToolTip(5, "; ".join(item.reasons))
            self.list.addTopLevelItem(row)
        self.list.blockSignals(False)
        self.kept.clear()
        for held in dry.plan.held_back:
            self.kept.addTopLevelItem(QTreeWidgetItem([held.item.name, held.item.vm, held.reason]))
        for item, why in dry.preflight.blocked:
            self.kept.addTopLevelItem(QTreeWidgetItem([item.name, item.vm, f"pre-flight: {why}"]))
        count = self.kept.topLevelItemCount()
        self.kept_label.setText(f"Not offered ({count})" if count else "Not offered: none")
        for col in range(self.list.columnCount() - 1):
            self.list.resizeColumnToContents(col)
        self.kept.resizeColumnToContents(0)
        self.kept.resizeColumnToContents(1)
        self._update_total()

    def unticked(self) -> list[str]:
        out = []
        for i in range(self.list.topLevelItemCount()):
            row = self.list.topLevelItem(i)
            if row is not None and row.checkState(0) != Qt.CheckState.Checked:
                out.append(str(row.data(0, Qt.ItemDataRole.UserRole)))
        return out

    def selected_plan(self) -> CleanupPlan | None:
        return self.dry.offered.without(self.unticked()) if self.dry is not None else None

    def _update_total(self, *_args: Any) -> None:
        plan = self.selected_plan()
        if plan is None or self.finished:
            return
        count = len(plan.items)
        self.total.setText(f"{count} snapshot(s) ticked, up to {format_size(plan.total_bytes)} to consolidate.")
        self.run_button.setText(remove_text(count))
        self.run_button.setEnabled(count > 0)

    def isComplete(self) -> bool:
        return self.finished


class ReportPage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Report")
        layout = QVBoxLayout(self)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Cleanup report")
        layout.addWidget(self.text)

    def show_report(self, report: CleanupReport | None, error: str | None = None) -> None:
        if report is None:
            self.text.setPlainText(f"The cleanup failed: {error}")
            return
        lines = [f"Removed {len(report.removed)} snapshot(s); freed {format_size(report.freed_bytes)} "
                 f"({report.freed_bytes} bytes)." + (" Verified by a new scan." if report.verified else "")]
        if report.cancelled:
            lines.append("The cleanup was stopped before the end.")
        lines += [f"NOT REMOVED {o.item.vm} / {o.item.name}: {o.reason}" for o in report.failed]
        self.text.setPlainText("\n".join(lines))


class CleanupWizard(QWizard):
    """Built with the cleanup use case, the report of the last scan and the settings' age values."""

    def __init__(
        self, cleanup: CleanupPort, report: SnapshotReport, *, default_age_days: float = 7.0,
        min_age_hours: float = 24.0, parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.cleanup = cleanup
        self.report = report
        self.setWindowTitle("Snapshot cleanup")
        self.setMinimumSize(820, 560)  # the plan's names, VMs and reasons readable on a 1024x700 screen
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.criteria_page = CriteriaPage(default_age_days, min_age_hours)
        self.plan_page = PlanPage()
        self.report_page = ReportPage()
        for page_id, page in ((PAGE_CRITERIA, self.criteria_page), (PAGE_PLAN, self.plan_page),
                              (PAGE_REPORT, self.report_page)):
            self.setPage(page_id, page)
        self.plan_page.run_button.clicked.connect(self.start_run)
        self.plan_page.stop_button.clicked.connect(self._stop)
        self.result_report: CleanupReport | None = None
        self.runs = 0  # how many times a run was started: at most once per wizard
        self.running = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._done_count = 0

    def initializePage(self, page_id: int) -> None:
        if page_id == PAGE_PLAN:
            if self.runs:
                self.plan_page.show_done()
            else:
                self.plan_page.show_loading()
                self._spawn(self._dry_run())
        elif page_id == PAGE_REPORT:
            self.report_page.show_report(self.result_report, None if self.result_report else "no result")
        super().initializePage(page_id)

    def validateCurrentPage(self) -> bool:
        """Leaving the plan page before its run ended is never allowed, even by ``next()`` in code."""
        if self.currentId() == PAGE_PLAN and not self.plan_page.finished:
            return False
        return super().validateCurrentPage()

    def reject(self) -> None:
        """Cancel/Escape during a run stops after the current snapshot; the wizard closes when it ended."""
        if self.running:
            self._stop()
            return
        super().reject()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dry_run(self) -> None:
        criteria = self.criteria_page.criteria()
        try:
            dry = await self.cleanup.dry_run(self.report, criteria,
                                             remove_children=self.criteria_page.remove_children.isChecked())
        except Exception as exc:  # shown as text; never raised into Qt
            self.plan_page.show_error(str(exc))
            return
        if self.currentId() == PAGE_PLAN and not self.runs:
            self.plan_page.set_dry_run(dry)

    def start_run(self) -> None:
        """The plan page's button: the only way a removal starts, and only once."""
        plan = self.plan_page.selected_plan()
        if self.runs or self.running or plan is None or not plan.items or self.currentId() != PAGE_PLAN:
            return
        self.runs += 1
        self.running = True
        page = self.plan_page
        page.run_button.setEnabled(False)
        page.stop_button.setEnabled(True)
        page.list.setEnabled(False)
        self.button(QWizard.WizardButton.BackButton).setEnabled(False)
        page.progress.setVisible(True)
        page.log.setVisible(True)
        self._spawn(self._run(plan))

    def _stop(self) -> None:
        if self.running:
            self.cleanup.cancel()
            self.plan_page.log.appendPlainText("Stopping after the current snapshot…")

    async def _run(self, plan: CleanupPlan) -> None:
        page = self.plan_page
        total = max(1, len(plan.items))
        page.progress.setRange(0, total)
        self._done_count = 0

        def listen(event: str, item: PlanItem | None, text: str) -> None:
            name = f"{item.vm} / {item.name}: " if item is not None else ""
            page.log.appendPlainText(f"{event}  {name}{text}")
            if event in ("done", "failed"):
                self._done_count += 1
                page.progress.setValue(min(total, self._done_count))

        try:
            self.result_report = await self.cleanup.run(plan, listener=listen)
        except Exception as exc:
            page.log.appendPlainText(f"The cleanup failed: {exc}")
        self.running = False
        page.finished = True
        page.stop_button.setEnabled(False)
        done = self.result_report
        page.total.setText(f"Done: {len(done.removed)} removed, {len(done.failed)} not removed."
                           if done is not None else "The cleanup failed.")
        page.setCommitPage(True)  # the report has no way back into a plan that has run
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Report >")
        page.completeChanged.emit()
