"""“Restore to this computer…”: choose a folder and a conflict rule, run the copy as a job, summarise.

The rule (role check, audit entry, the job itself) is ``vmrestore.app.restore.FileRestore``'s, the same the
CLI calls; this module only asks and shows. The job reports progress on the loop (= Qt) thread through
its handle; Cancel cancels the job, which stops after the current chunk: finished files stay, the
partial one (a hidden temporary name) is removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from vmrestore.app.restore import ExtractRequest
from vmrestore.errors import InvalidInput
from vmrestore.model import ExtractResult, JobState, format_size

from ..errors import show_error
from ..tasks import TaskSet, ask
from .folder_model import BrowseItem
from .ports import Conflict, FileRestorePort

if TYPE_CHECKING:
    from vmrestore.app.ports import RunningJob as JobHandle

FolderPicker = Callable[[QWidget, str], Awaitable[str | None]]

CONFLICTS: tuple[tuple[Conflict, str, str], ...] = (
    ("keep_both", "&Keep both (restored copy gets a new name, e.g. “report (1).xlsx”)", "Keep both"),
    ("overwrite", "&Overwrite the existing file", "Overwrite"),
    ("skip", "&Skip files that already exist", "Skip existing"),
)


async def pick_folder_dialog(parent: QWidget, start: str) -> str | None:
    """The system folder picker, shown window-modally without a nested event loop."""
    dialog = QFileDialog(parent, "Restore to which folder?", start)
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if await ask(dialog) != QDialog.DialogCode.Accepted.value:
        return None
    chosen = dialog.selectedFiles()
    return chosen[0] if chosen else None


class RestoreDialog(QDialog):
    """Target folder (typed or picked) and what to do with files that already exist there."""

    def __init__(self, items: list[BrowseItem], point_text: str, target: str, pick_folder: FolderPicker,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pick_folder = pick_folder
        self._tasks = TaskSet()
        self.setObjectName("restoreDialog")
        self.setWindowTitle("Restore to this computer")
        self.setAccessibleName("Restore to this computer")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(560)
        names = ", ".join(item.entry.name for item in items[:3]) + (f" and {len(items) - 3} more"
                                                                     if len(items) > 3 else "")
        known = sum(item.entry.size for item in items if not item.is_dir)
        folders = sum(1 for item in items if item.is_dir)
        what = f"{len(items)} item(s): {names}"
        if folders:
            what += f" ({folders} folder(s) with everything in them)"
        elif known:
            what += f", {format_size(known)}"
        summary = QLabel(f"<b>{what}</b><br>from {point_text}", self)
        summary.setWordWrap(True)
        summary.setTextFormat(Qt.TextFormat.RichText)
        self.target_edit = QLineEdit(target, self)
        self.target_edit.setObjectName("restoreTarget")
        self.target_edit.setAccessibleName("Target folder on this computer")
        self.browse_button = QPushButton("&Browse…", self)
        self.browse_button.setAccessibleName("Choose the target folder")
        self.browse_button.clicked.connect(lambda: self._tasks.spawn(self.browse(), name="pick-folder"))
        row = QHBoxLayout()
        row.addWidget(self.target_edit, 1)
        row.addWidget(self.browse_button)
        self.conflict_group = QButtonGroup(self)
        self.conflict_buttons: dict[Conflict, QRadioButton] = {}
        conflict_box = QVBoxLayout()
        for number, (key, text, short) in enumerate(CONFLICTS):
            button = QRadioButton(text, self)
            button.setAccessibleName(f"If a file exists: {short}")
            self.conflict_group.addButton(button, number)
            self.conflict_buttons[key] = button
            conflict_box.addWidget(button)
        self.conflict_buttons["keep_both"].setChecked(True)
        form = QFormLayout()
        form.addRow("Copy to:", row)
        form.addRow("If a file exists:", conflict_box)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("&Restore")
        ok.setAccessibleName("Start restoring")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.target_edit.textChanged.connect(lambda text: ok.setEnabled(bool(text.strip())))
        ok.setEnabled(bool(target.strip()))
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

    async def browse(self) -> None:
        chosen = await self._pick_folder(self, self.target_edit.text().strip() or str(Path.home()))
        if chosen:
            self.target_edit.setText(chosen)

    @property
    def conflict(self) -> Conflict:
        for key, button in self.conflict_buttons.items():
            if button.isChecked():
                return key
        return "keep_both"

    def done(self, result: int) -> None:
        self._tasks.cancel_all()
        super().done(result)


def check_items(items: list[BrowseItem]) -> None:
    """What the page can offer to restore: picked files and folders of one volume of one point."""
    if not items:
        raise InvalidInput("Select the files or folders to restore first")
    if any(not item.in_volume for item in items):
        if len(items) == 1:
            return  # a whole volume, disk or restore point (from the tree): each volume into its own folder
        raise InvalidInput("Select files or folders of one volume, or one whole volume or disk in the tree")
    if len({item.point_id for item in items}) != 1 or len({item.volume_key for item in items}) != 1:
        raise InvalidInput("Restore files of one volume of one restore point at a time")


def summary_text(result: ExtractResult, target: str) -> tuple[str, str]:
    """The headline and the details (every rename and every skipped item) of a finished restore."""
    head = f"Restored {result.files} file(s), {format_size(result.bytes)}, to {target}."
    if result.renamed:
        head += f" {len(result.renamed)} item(s) got a new name."
    if result.skipped:
        head += f" {len(result.skipped)} item(s) were not restored."
    lines: list[str] = []
    if result.renamed:
        lines.append("Renamed (guest path → name in the target folder):")
        lines += [f"  {guest} → {local}" for guest, local in result.renamed]
    if result.skipped:
        if lines:
            lines.append("")
        lines.append("Skipped:")
        lines += [f"  {entry.path}: {entry.reason}" for entry in result.skipped]
    return head, "\n".join(lines)


async def run_restore(parent: QWidget, restore: FileRestorePort, request: ExtractRequest) -> ExtractResult | None:
    """Queue the copy as a job (it shows in Jobs too), follow it in a progress dialog whose Cancel cancels
    the job, then summarise. Errors (and Cancel) are shown, never raised into the caller's slot."""
    try:
        handle = restore.start_extract(request)
    except Exception as exc:
        show_error(parent, exc, context="Nothing was restored.")
        return None
    progress = QProgressDialog("Waiting for another job on this restore point…", "Cancel", 0, 1000, parent)
    progress.setObjectName("restoreProgress")
    progress.setWindowTitle("Restoring files")
    progress.setAccessibleName("Restore progress")
    progress.setWindowModality(Qt.WindowModality.WindowModal)
    progress.setAutoClose(False)
    progress.setAutoReset(False)
    progress.setMinimumDuration(0)
    progress.canceled.connect(handle.cancel)
    progress.canceled.connect(lambda: progress.setLabelText("Cancelling after the current chunk…"))

    def apply(job: JobHandle) -> None:  # called in the loop (= Qt) thread on every change
        if job.cancel_event.is_set() or job.is_finished:
            return
        report = job.progress
        if report.fraction is None:
            progress.setRange(0, 0)
        else:
            progress.setRange(0, 1000)
            progress.setValue(round(report.fraction * 1000))
        progress.setLabelText(report.text)

    unsubscribe = handle.add_listener(apply)
    progress.open()
    try:
        await handle.wait()
    except asyncio.CancelledError:
        handle.cancel()  # the page is closing: the job stops too, and cleans up its partial file
        raise
    finally:
        unsubscribe()
        progress.canceled.disconnect()  # closing a QProgressDialog emits canceled
        progress.close()
        progress.deleteLater()
    if handle.state is JobState.CANCELLED:
        box = QMessageBox(QMessageBox.Icon.Information, "Restore cancelled",
                          f"{handle.error or 'Cancelled'}. Files already copied stay in {request.target_dir}; "
                          "the partial one was removed.", QMessageBox.StandardButton.Ok, parent)
        box.setObjectName("restoreCancelled")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return None
    if handle.error is not None:
        show_error(parent, handle.error, context=f"Nothing more was copied to {request.target_dir}.")
        return None
    result: ExtractResult = handle.result
    show_summary(parent, result, request.target_dir)
    return result


def show_summary(parent: QWidget, result: ExtractResult, target: str) -> QMessageBox:
    head, details = summary_text(result, target)
    icon = QMessageBox.Icon.Warning if result.skipped else QMessageBox.Icon.Information
    box = QMessageBox(icon, "Restore finished", head, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("restoreSummary")
    box.setAccessibleName("Restore finished")
    if details:
        box.setInformativeText(details if len(details) < 1500 else details[:1500] + "\n…")
        box.setDetailedText(details)
    box.setEscapeButton(QMessageBox.StandardButton.Ok)  # Esc and the close button still work with two buttons
    open_button = box.addButton("&Open folder", QMessageBox.ButtonRole.ActionRole)
    open_button.setAccessibleName("Open the target folder")
    open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(target)))
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
