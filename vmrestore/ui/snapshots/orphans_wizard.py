"""Deleting orphaned snapshot files (admin only): pick files → confirm twice → delete → report.

The files offered are those the last scan showed; the ``OrphanFiles`` use case checks each one again
right before deleting it (still unreferenced, unchanged) under the datastore's cross-process lock.
The wizard decides nothing itself; errors come back as text, never raised into a slot.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from vmrestore.app.snapshots.orphans import OrphanDeletion
from vmrestore.app.snapshots.types import OrphanFile, SnapshotReport
from vmrestore.model import format_size

PAGE_PICK, PAGE_CONFIRM, PAGE_RESULT = range(3)
CONFIRM_WORD = "DELETE"


class PickPage(QWizardPage):
    def __init__(self, orphans: tuple[OrphanFile, ...], parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Orphaned snapshot files")
        self.setSubTitle("Delta and snapshot files that no VM uses, written before the scan started. "
                         "Tick the files to delete.")
        layout = QVBoxLayout(self)
        self.list = QTreeWidget()
        self.list.setAccessibleName("Orphaned files")
        self.list.setHeaderLabels(["File", "Size", "Last modified"])
        self.list.setRootIsDecorated(False)
        for o in orphans:
            row = QTreeWidgetItem([o.path, format_size(o.size),
                                   o.modified.astimezone().strftime("%Y-%m-%d %H:%M") if o.modified else "?"])
            row.setData(0, Qt.ItemDataRole.UserRole, o.path)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(0, Qt.CheckState.Unchecked)
            self.list.addTopLevelItem(row)
        self.list.resizeColumnToContents(0)
        layout.addWidget(self.list)
        self.total = QLabel()
        layout.addWidget(self.total)
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
        self.total.setText(f"{len(paths)} file(s), {format_size(sum(self.sizes[p] for p in paths))}")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.ticked())


class ConfirmPage(QWizardPage):
    """Two explicit confirmations: a tick box and the typed word."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Confirm the deletion")
        layout = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.understood = QCheckBox("I understand that these files are deleted from the datastore for good")
        self.understood.setAccessibleName("First confirmation")
        layout.addWidget(self.understood)
        layout.addWidget(QLabel(f"Type {CONFIRM_WORD} to confirm a second time:"))
        self.word = QLineEdit()
        self.word.setAccessibleName("Second confirmation")
        self.word.setPlaceholderText(CONFIRM_WORD)
        layout.addWidget(self.word)
        self.understood.toggled.connect(lambda _on: self.completeChanged.emit())
        self.word.textChanged.connect(lambda _t: self.completeChanged.emit())

    def confirmed(self) -> bool:
        return self.understood.isChecked()

    def confirmed_again(self) -> bool:
        return self.word.text().strip() == CONFIRM_WORD

    def isComplete(self) -> bool:
        return self.confirmed() and self.confirmed_again()


class ResultPage(QWizardPage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setTitle("Deleting")
        layout = QVBoxLayout(self)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Deletion report")
        layout.addWidget(self.text)
        self.done = False

    def show_result(self, result: OrphanDeletion | None, error: str | None = None) -> None:
        if result is None:
            self.text.setPlainText(f"Nothing was deleted: {error}")
        else:
            lines = [f"Deleted {len(result.deleted)} file(s), freed {format_size(result.freed_bytes)}."]
            lines += [f"deleted  {o.path}" for o in result.deleted]
            lines += [f"KEPT  {o.path}: {o.reason}" for o in result.skipped]
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
        self.setWindowTitle("Delete orphaned snapshot files")
        self.pick_page = PickPage(report.orphans)
        self.confirm_page = ConfirmPage()
        self.result_page = ResultPage()
        self.setPage(PAGE_PICK, self.pick_page)
        self.setPage(PAGE_CONFIRM, self.confirm_page)
        self.setPage(PAGE_RESULT, self.result_page)
        self.deletion: OrphanDeletion | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def initializePage(self, page_id: int) -> None:
        if page_id == PAGE_CONFIRM:
            paths = self.pick_page.ticked()
            size = sum(self.pick_page.sizes[p] for p in paths)
            self.confirm_page.summary.setText(
                f"{len(paths)} file(s), {format_size(size)}, will be deleted. Each file is checked again just "
                "before: a file a VM uses by then, or that changed, is kept.")
        elif page_id == PAGE_RESULT:
            self.result_page.text.setPlainText("Checking again and deleting…")
            task = asyncio.ensure_future(self._delete(self.pick_page.ticked()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        super().initializePage(page_id)

    async def _delete(self, paths: list[str]) -> None:
        try:
            self.deletion = await self.use_case.delete(
                paths, confirmed=self.confirm_page.confirmed(), confirmed_again=self.confirm_page.confirmed_again(),
                shown=self.report.orphans)
        except Exception as exc:  # shown as text; never raised into Qt
            self.result_page.show_result(None, str(exc))
            return
        self.result_page.show_result(self.deletion)
