"""Moving orphaned snapshot files to the quarantine (admin only): pick files → see the plan → move → report.

The files listed are those the last scan showed. A file the scan could not prove orphaned (a VM on its
datastore is not visible to this account, ...) is listed greyed with the reason and cannot be ticked.
The plan page asks the ``OrphanFiles`` use case for a dry run (each file checked again under the
datastore lock) and shows where every file will go and what stays and why; only then does the button
naming the action ("Move 2 files to quarantine") appear. The move runs once: it is a commit page, so
"< Back" is gone afterwards. The wizard decides nothing itself; errors come back as text.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from vmrestore.app.snapshots.quarantine import OrphanOutcome, QuarantineReport
from vmrestore.app.snapshots.types import OrphanFile, SnapshotReport
from vmrestore.model import format_size

PAGE_PICK, PAGE_PLAN, PAGE_RESULT = range(3)


def files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def why_text(orphans: tuple[OrphanFile, ...]) -> str:
    """The files that cannot be moved with their reasons, in words (a greyed row alone says too little)."""
    stuck = [o for o in orphans if not o.deletable]
    if not stuck:
        return ""
    them = "it" if len(stuck) == 1 else "them"
    lines = [f"{files(len(stuck))} cannot be moved: the scan cannot prove that no VM uses {them}."]
    lines += [f"• {o.path}: {o.reason}" for o in stuck]
    return "\n".join(lines)


class PickPage(QWizardPage):
    def __init__(self, orphans: tuple[OrphanFile, ...], parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Orphaned snapshot files")
        self.setSubTitle("Delta and snapshot files that no VM uses, written before the scan started. Ticked files "
                         "are moved to the datastore's .vmrestore-quarantine folder, from where they can be put back.")
        layout = QVBoxLayout(self)
        self.list = QTreeWidget()
        self.list.setAccessibleName("Orphaned files")
        self.list.setHeaderLabels(["File", "Size", "Last modified", "Can be moved"])
        self.list.setRootIsDecorated(False)
        grey = QBrush(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        for o in orphans:
            row = QTreeWidgetItem([o.path, format_size(o.size),
                                   o.modified.astimezone().strftime("%Y-%m-%d %H:%M") if o.modified else "?",
                                   "yes" if o.deletable else f"no: {o.reason}"])
            row.setData(0, Qt.ItemDataRole.UserRole, o.path)
            row.setToolTip(3, o.reason or "No VM visible to you uses it, and every VM on its datastore is visible")
            if o.deletable:
                row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                row.setCheckState(0, Qt.CheckState.Unchecked)
            else:
                row.setFlags(row.flags() & ~Qt.ItemFlag.ItemIsUserCheckable)
                for col in range(4):
                    row.setForeground(col, grey)
            self.list.addTopLevelItem(row)
        for col in range(3):
            self.list.resizeColumnToContents(col)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        layout.addWidget(self.list)
        self.total = QLabel()
        layout.addWidget(self.total)
        self.why = QLabel(why_text(orphans))
        self.why.setWordWrap(True)
        self.why.setAccessibleName("Files that cannot be moved, and why")
        self.why.setVisible(bool(self.why.text()))
        layout.addWidget(self.why)
        self.sizes = {o.path: o.size for o in orphans}
        self.list.itemChanged.connect(self._changed)
        self._changed()

    def ticked(self) -> list[str]:
        out = []
        for i in range(self.list.topLevelItemCount()):
            row = self.list.topLevelItem(i)
            if row is not None and row.checkState(0) == Qt.CheckState.Checked:
                out.append(str(row.data(0, Qt.ItemDataRole.UserRole)))
        return out

    def _changed(self, *_args: Any) -> None:
        paths = self.ticked()
        self.total.setText(f"{files(len(paths))} ticked, {format_size(sum(self.sizes[p] for p in paths))}")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.ticked())


class PlanPage(QWizardPage):
    """The dry run's answer: what moves where, what stays and why. Its commit button names the action."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("The plan")
        self.setSubTitle("Nothing has moved yet. Each file was checked again just now; it is checked once more "
                         "right before it moves.")
        self.setCommitPage(True)
        layout = QVBoxLayout(self)
        self.table = QTreeWidget()
        self.table.setAccessibleName("Plan: what moves where")
        self.table.setHeaderLabels(["File", "Size", "Goes to"])
        self.table.setRootIsDecorated(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        layout.addWidget(self.table)
        self.status = QLabel("Checking the files again…")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Plan summary")
        layout.addWidget(self.status)
        self.plan: QuarantineReport | None = None
        self.setButtonText(QWizard.WizardButton.CommitButton, "Move to quarantine")

    def reset(self) -> None:
        self.table.clear()
        self.plan = None
        self.status.setText("Checking the files again…")
        self.completeChanged.emit()

    def show_plan(self, plan: QuarantineReport | None, error: str | None = None,
                  not_movable: tuple[OrphanFile, ...] = ()) -> None:
        self.table.clear()
        self.plan = plan
        if plan is None:
            self.status.setText(f"The plan could not be made: {error}")
            self.completeChanged.emit()
            return
        for m in plan.plan:
            self.table.addTopLevelItem(QTreeWidgetItem([m.source, format_size(m.size), m.destination]))
        staying: list[OrphanOutcome | OrphanFile] = [*plan.refused, *plan.skipped, *plan.failed, *not_movable]
        for o in staying:
            row = QTreeWidgetItem([o.path, format_size(o.size), f"stays: {o.reason}"])
            row.setToolTip(2, o.reason)
            self.table.addTopLevelItem(row)
        for col in range(2):
            self.table.resizeColumnToContents(col)
        moving = len(plan.plan)
        total = format_size(sum(m.size for m in plan.plan))
        day = plan.plan[0].destination.split("/", 2)[1] if plan.plan else ""
        self.status.setText(
            (f"{files(moving)} ({total}) will move to .vmrestore-quarantine/{day}/ on their datastore, keeping "
             "their path below it; 'vmrestore snapshots orphans --restore' puts them back."
             if moving else "Nothing can be moved.")
            + (f"\n{files(len(staying))} will stay where they are:\n" + "\n".join(
                f"• {o.path}: {o.reason}" for o in staying) if staying else ""))
        self.setButtonText(QWizard.WizardButton.CommitButton, f"Move {files(moving)} to quarantine")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.plan is not None and bool(self.plan.plan)


class ResultPage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Moving to the quarantine")
        layout = QVBoxLayout(self)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Report: where each file went")
        layout.addWidget(self.text)
        self.done = False

    def show_result(self, result: QuarantineReport | None, error: str | None = None) -> None:
        if result is None:
            self.text.setPlainText(f"Nothing was moved: {error}")
        else:
            lines = [f"Moved {files(len(result.moved))} to the quarantine."]
            lines += [f"moved  {m.source}\n   to  {m.destination}" for m in result.moved]
            lines += [f"STAYS  {o.path}: {o.reason}" for o in (*result.refused, *result.skipped)]
            lines += [f"FAILED  {o.path}: {o.reason}" for o in result.failed]
            self.text.setPlainText("\n".join(lines))
        self.done = True
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.done


class OrphanWizard(QWizard):
    """Built with the ``OrphanFiles`` use case and the report whose orphans were shown."""

    def __init__(self, use_case: Any, report: SnapshotReport, parent: Any = None) -> None:
        super().__init__(parent)
        self.use_case = use_case
        self.report = report
        self.setWindowTitle("Move orphaned snapshot files to the quarantine")
        self.setMinimumSize(820, 560)  # paths and reasons readable on a 1024x700 screen
        self.pick_page = PickPage(report.orphans)
        self.plan_page = PlanPage()
        self.result_page = ResultPage()
        self.setPage(PAGE_PICK, self.pick_page)
        self.setPage(PAGE_PLAN, self.plan_page)
        self.setPage(PAGE_RESULT, self.result_page)
        self.outcome: QuarantineReport | None = None
        self._ran = False  # the move runs once, whatever the pages do afterwards
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def initializePage(self, page_id: int) -> None:
        if page_id == PAGE_PLAN:
            self.plan_page.reset()
            self._spawn(self._plan(self.pick_page.ticked()))
        elif page_id == PAGE_RESULT and not self._ran:
            self._ran = True
            plan = self.plan_page.plan
            paths = [m.source for m in plan.plan] if plan is not None else []
            self.result_page.text.setPlainText("Checking again and moving…")
            self._spawn(self._move(paths))
        super().initializePage(page_id)

    async def _plan(self, paths: list[str]) -> None:
        try:
            plan = await self.use_case.quarantine(paths, confirmed=False, dry_run=True, shown=self.report.orphans)
        except Exception as exc:  # shown as text; never raised into Qt
            self.plan_page.show_plan(None, str(exc))
            return
        self.plan_page.show_plan(plan, not_movable=tuple(o for o in self.report.orphans if not o.deletable))

    async def _move(self, paths: list[str]) -> None:
        try:
            self.outcome = await self.use_case.quarantine(paths, confirmed=True, shown=self.report.orphans)
        except Exception as exc:  # shown as text; never raised into Qt
            self.result_page.show_result(None, str(exc))
            return
        self.result_page.show_result(self.outcome)
