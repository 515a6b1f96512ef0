"""“Restore to this computer…”: choose a folder and a conflict rule, copy in a worker thread, summarise.

The copy (``catalog.extract``) runs in an executor under ``services.audited(Action.EXTRACT, ...)``; its
``on_progress`` is called in that worker thread, so reports are handed to the Qt thread with
``loop.call_soon_threadsafe`` and coalesced (the dialog shows the latest one). Cancel sets the
``threading.Event`` the extractor checks between chunks; finished files stay, the partial one is removed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

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

from vmrestore.errors import Cancelled, InvalidInput
from vmrestore.model import Action, ExtractResult, Progress

from ..errors import show_error
from ..tasks import TaskSet, ask
from .display import data_size
from .folder_model import BrowseItem
from .ports import Conflict, RestoreServices

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


@dataclass(frozen=True, slots=True)
class RestoreRequest:
    point_id: str
    paths: list[str]
    target_dir: str
    conflict: Conflict


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
            what += f", {data_size(known)}"
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


class ProgressRelay:
    """Hands extractor progress from the worker thread to the Qt thread, newest report wins."""

    def __init__(self, loop: asyncio.AbstractEventLoop, apply: Callable[[Progress], None]) -> None:
        self._loop = loop
        self._apply = apply
        self._latest: Progress | None = None
        self._pending = False
        self._lock = threading.Lock()
        self.reports = 0  # how many reports the worker sent (tests, logs)

    def __call__(self, progress: Progress) -> None:  # worker thread
        with self._lock:
            self.reports += 1
            self._latest = progress
            if self._pending:
                return
            self._pending = True
        self._loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:  # Qt thread
        with self._lock:
            latest, self._latest, self._pending = self._latest, None, False
        if latest is not None:
            self._apply(latest)


def check_items(items: list[BrowseItem]) -> None:
    if not items:
        raise InvalidInput("Select the files or folders to restore first")
    if any(not item.in_volume for item in items):
        raise InvalidInput("Select files or folders inside a volume; a whole disk cannot be copied as files")
    if len({item.point_id for item in items}) != 1 or len({item.volume_key for item in items}) != 1:
        raise InvalidInput("Restore files of one volume of one restore point at a time")


def audit_target(request: RestoreRequest) -> str:
    more = f" (+{len(request.paths) - 1} more)" if len(request.paths) > 1 else ""
    return f"{request.point_id}:{request.paths[0]}{more} -> {request.target_dir}"


def extract_blocking(services: RestoreServices, request: RestoreRequest,
                     on_progress: Callable[[Progress], None], cancel: threading.Event) -> ExtractResult:
    """Worker thread: the role gate, the audit entry and the copy itself."""
    services.require(Action.EXTRACT)
    with services.audited(Action.EXTRACT, audit_target(request), conflict=request.conflict) as detail:
        result = services.catalog.extract(request.point_id, request.paths, request.target_dir, request.conflict,
                                          on_progress, cancel)
        detail.update(files=result.files, bytes=result.bytes, renamed=len(result.renamed),
                      skipped=len(result.skipped))
    return result


def summary_text(result: ExtractResult, target: str) -> tuple[str, str]:
    """The headline and the details (every rename and every skipped item) of a finished restore."""
    head = f"Restored {result.files} file(s), {data_size(result.bytes)}, to {target}."
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


async def run_restore(parent: QWidget, services: RestoreServices, request: RestoreRequest) -> ExtractResult | None:
    """Copy with a progress dialog; errors (and Cancel) are shown, never raised into the caller's slot."""
    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    progress = QProgressDialog("Preparing…", "Cancel", 0, 1000, parent)
    progress.setObjectName("restoreProgress")
    progress.setWindowTitle("Restoring files")
    progress.setAccessibleName("Restore progress")
    progress.setWindowModality(Qt.WindowModality.WindowModal)
    progress.setAutoClose(False)
    progress.setAutoReset(False)
    progress.setMinimumDuration(0)
    progress.canceled.connect(cancel.set)
    progress.canceled.connect(lambda: progress.setLabelText("Cancelling after the current file…"))

    def apply(report: Progress) -> None:
        if cancel.is_set():
            return
        if report.fraction is None:
            progress.setRange(0, 0)
        else:
            progress.setRange(0, 1000)
            progress.setValue(round(report.fraction * 1000))
        progress.setLabelText(report.text)

    relay = ProgressRelay(loop, apply)
    progress.open()
    error: BaseException | None = None
    result: ExtractResult | None = None
    try:
        result = await loop.run_in_executor(None, extract_blocking, services, request, relay, cancel)
    except asyncio.CancelledError:
        cancel.set()
        raise
    except Exception as exc:
        error = exc
    finally:
        progress.canceled.disconnect()  # closing a QProgressDialog emits canceled
        progress.close()
        progress.deleteLater()
    if isinstance(error, Cancelled):
        box = QMessageBox(QMessageBox.Icon.Information, "Restore cancelled",
                          f"{error}. Files already copied stay in {request.target_dir}; the partial one was removed.",
                          QMessageBox.StandardButton.Ok, parent)
        box.setObjectName("restoreCancelled")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return None
    if error is not None:
        show_error(parent, error, context=f"Nothing more was copied to {request.target_dir}.")
        return None
    assert result is not None
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
