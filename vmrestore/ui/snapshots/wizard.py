"""The cleanup wizard (admin only): criteria → review (untick any) → pre-flight → run → report.

The wizard decides nothing itself: the plan, the pre-flight, the run and the verification are the
``CleanupSnapshots`` use case's. Long steps run as asyncio tasks on the qasync loop; results come back
as values and errors are shown as text, never raised into a slot.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
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

from vmrestore.app.snapshots.cleanup import CleanupCriteria, CleanupPlan, CleanupReport, PlanItem, Preflight
from vmrestore.app.snapshots.types import SnapshotClass, SnapshotReport
from vmrestore.model import format_size

log = logging.getLogger(__name__)

PAGE_CRITERIA, PAGE_REVIEW, PAGE_PREFLIGHT, PAGE_RUN, PAGE_REPORT = range(5)


class CriteriaPage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Which snapshots?")
        self.setSubTitle("Every ticked condition must hold; classes: any of the ticked ones.")
        form = QFormLayout(self)
        self.class_boxes: dict[SnapshotClass, QCheckBox] = {}
        for klass, label, on in (
            (SnapshotClass.LEFTOVER, "Left behind by a backup tool", True),
            (SnapshotClass.OLD, "Older than the age limit", True),
            (SnapshotClass.LARGE, "Large", False),
            (SnapshotClass.RISKY, "Risky (datastore filling up, consolidation needed)", False),
        ):
            box = QCheckBox(label)
            box.setChecked(on)
            box.setAccessibleName(f"Class {klass.value}")
            self.class_boxes[klass] = box
            form.addRow(box)
        self.use_age = QCheckBox("Only older than (days)")
        self.age = QDoubleSpinBox()
        self.age.setRange(0, 3650)
        self.age.setValue(7)
        self.age.setAccessibleName("Minimum age in days")
        form.addRow(self.use_age, self.age)
        self.remove_children = QCheckBox("Remove child snapshots together with a selected snapshot")
        form.addRow(self.remove_children)

    def criteria(self) -> CleanupCriteria:
        classes = frozenset(k for k, box in self.class_boxes.items() if box.isChecked())
        return CleanupCriteria(older_than_days=self.age.value() if self.use_age.isChecked() else None,
                               classes=classes)


class ReviewPage(QWizardPage):
    """The exact list, sizes and reasons; untick any snapshot to keep it."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Review the exact list")
        self.setSubTitle("Untick a snapshot to keep it. Only ticked snapshots are removed.")
        layout = QVBoxLayout(self)
        self.list = QTreeWidget()
        self.list.setAccessibleName("Snapshots to remove")
        self.list.setHeaderLabels(["Snapshot", "VM", "Size", "Datastore", "Reasons"])
        layout.addWidget(self.list)
        self.total = QLabel()
        layout.addWidget(self.total)
        self.plan: CleanupPlan | None = None
        self.list.itemChanged.connect(self._update_total)

    def set_plan(self, plan: CleanupPlan) -> None:
        self.plan = plan
        self.list.blockSignals(True)
        self.list.clear()
        for item in plan.items:
            row = QTreeWidgetItem([item.name, item.vm, format_size(item.size), item.datastore,
                                   "; ".join(item.reasons)])
            row.setData(0, Qt.ItemDataRole.UserRole, item.moref)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(0, Qt.CheckState.Checked)
            self.list.addTopLevelItem(row)
        self.list.blockSignals(False)
        self._update_total()
        self.completeChanged.emit()

    def unticked(self) -> list[str]:
        out = []
        for i in range(self.list.topLevelItemCount()):
            row = self.list.topLevelItem(i)
            if row is not None and row.checkState(0) != Qt.CheckState.Checked:
                out.append(str(row.data(0, Qt.ItemDataRole.UserRole)))
        return out

    def selected_plan(self) -> CleanupPlan | None:
        return self.plan.without(self.unticked()) if self.plan is not None else None

    def _update_total(self, *_args: Any) -> None:
        plan = self.selected_plan()
        if plan is None:
            self.total.setText("")
        else:
            self.total.setText(f"{len(plan.items)} snapshot(s), up to {format_size(plan.total_bytes)}")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        plan = self.selected_plan()
        return plan is not None and bool(plan.items)


class PreflightPage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Pre-flight checks")
        self.setSubTitle("Free space for the consolidation, tasks (backups) running on the VM, hosts in maintenance.")
        layout = QVBoxLayout(self)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Pre-flight results")
        layout.addWidget(self.text)
        self.result: Preflight | None = None

    def show_result(self, result: Preflight | None, error: str | None = None) -> None:
        self.result = result
        if error:
            self.text.setPlainText(f"The pre-flight failed: {error}")
        elif result is not None:
            lines = [f"OK: {len(result.ok)} snapshot(s) can be removed."]
            lines += [f"SKIPPED {i.vm} / {i.name}: {why}" for i, why in result.blocked]
            self.text.setPlainText("\n".join(lines))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.result is not None and bool(self.result.ok)


class RunPage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Removing snapshots")
        layout = QVBoxLayout(self)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Cleanup progress")
        layout.addWidget(self.progress)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setAccessibleName("Cleanup log")
        layout.addWidget(self.log)
        self.cancel_button = QPushButton("Stop after the current snapshot")
        self.cancel_button.setAccessibleName("Stop the cleanup")
        layout.addWidget(self.cancel_button)
        self.finished = False

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
    """Built with the cleanup use case and the report of the last scan."""

    def __init__(self, cleanup: Any, report: SnapshotReport, parent: Any = None) -> None:
        super().__init__(parent)
        self.cleanup = cleanup
        self.report = report
        self.setWindowTitle("Snapshot cleanup")
        self.criteria_page = CriteriaPage()
        self.review_page = ReviewPage()
        self.preflight_page = PreflightPage()
        self.run_page = RunPage()
        self.report_page = ReportPage()
        for page_id, page in ((PAGE_CRITERIA, self.criteria_page), (PAGE_REVIEW, self.review_page),
                              (PAGE_PREFLIGHT, self.preflight_page), (PAGE_RUN, self.run_page),
                              (PAGE_REPORT, self.report_page)):
            self.setPage(page_id, page)
        self.run_page.cancel_button.clicked.connect(self.cleanup.cancel)
        self.result_report: CleanupReport | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._done_count = 0

    def initializePage(self, page_id: int) -> None:
        if page_id == PAGE_REVIEW:
            plan = self.cleanup.plan(self.report, self.criteria_page.criteria(),
                                     remove_children=self.criteria_page.remove_children.isChecked())
            self.review_page.set_plan(plan)
        elif page_id == PAGE_PREFLIGHT:
            self.preflight_page.show_result(None)
            self.preflight_page.text.setPlainText("Checking…")
            self._spawn(self._preflight())
        elif page_id == PAGE_RUN:
            self._spawn(self._run())
        elif page_id == PAGE_REPORT:
            self.report_page.show_report(self.result_report, None if self.result_report else "no result")
        super().initializePage(page_id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _preflight(self) -> None:
        plan = self.review_page.selected_plan()
        if plan is None:
            return
        try:
            result = await self.cleanup.preflight(plan)
        except Exception as exc:  # shown as text; never raised into Qt
            self.preflight_page.show_result(None, str(exc))
            return
        self.preflight_page.show_result(result)

    async def _run(self) -> None:
        checked = self.preflight_page.result
        plan = self.review_page.selected_plan()
        if checked is None or plan is None:
            return
        run_plan = CleanupPlan(tuple(checked.ok), plan.report)
        total = max(1, len(run_plan.items))
        self.run_page.progress.setRange(0, total)
        self._done_count = 0

        def listen(event: str, item: PlanItem | None, text: str) -> None:
            name = f"{item.vm} / {item.name}: " if item is not None else ""
            self.run_page.log.appendPlainText(f"{event}  {name}{text}")
            if event in ("done", "failed"):
                self._done_count += 1
                self.run_page.progress.setValue(min(total, self._done_count))

        try:
            self.result_report = await self.cleanup.run(run_plan, listener=listen, skip_preflight=True)
        except Exception as exc:
            self.run_page.log.appendPlainText(f"The cleanup failed: {exc}")
        self.run_page.finished = True
        self.run_page.cancel_button.setEnabled(False)
        self.run_page.completeChanged.emit()
