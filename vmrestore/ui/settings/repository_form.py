"""The repository form (name, folder, NFS export, Test), shared by Settings › Repositories and the first run.

The form only asks and shows; ``vmrestore.app.repositories`` decides (validation, role, audit). "Test" lists
the folder in an executor and says in words what it found, so the operator knows before saving that the
workstation can read the backups.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..errors import describe
from ..tasks import TaskSet, call_io

log = logging.getLogger(__name__)

FolderPicker = Callable[[QWidget, str], Awaitable[str | None]]


async def pick_folder_dialog(parent: QWidget, start: str) -> str | None:
    """The native folder picker, opened window-modally without a nested event loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str | None] = loop.create_future()
    dialog = QFileDialog(parent, "Choose the backup folder", start)
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def done(result: int) -> None:
        files = dialog.selectedFiles() if result == QDialog.DialogCode.Accepted.value else []
        if not future.done():
            future.set_result(files[0] if files else None)

    dialog.finished.connect(done)
    dialog.open()
    return await future


class RepositoryForm(QWidget):
    """Name, folder (with Browse…), NFS export and Test; ``values()`` gives what was typed."""

    tested = Signal(object)  # RepositoryCheck

    def __init__(self, admin: Any, parent: QWidget | None = None, *, name_editable: bool = True,
                 pick_folder: FolderPicker | None = None) -> None:
        super().__init__(parent)
        self._admin = admin  # vmrestore.app.repositories.RepositoryAdmin (blocking: used from an executor)
        self._pick_folder = pick_folder or pick_folder_dialog
        self._tasks = TaskSet()
        self.last_check: Any = None
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("repoName")
        self.name_edit.setAccessibleName("Repository name")
        self.name_edit.setPlaceholderText("e.g. nas01-backups")
        self.name_edit.setEnabled(name_editable)
        self.path_edit = QLineEdit(self)
        self.path_edit.setObjectName("repoPath")
        self.path_edit.setAccessibleName("Backup folder as this computer sees it")
        self.path_edit.setPlaceholderText(r"\\nas01\backups or D:\Backups")
        self.browse_button = QPushButton("Bro&wse…", self)
        self.browse_button.setObjectName("repoBrowse")
        self.browse_button.setAccessibleName("Browse for the backup folder")
        self.browse_button.clicked.connect(lambda: self._tasks.spawn(self._browse(), name="repo-browse"))
        self.nfs_edit = QLineEdit(self)
        self.nfs_edit.setObjectName("repoNfs")
        self.nfs_edit.setAccessibleName("NFS export as the ESXi hosts see it (optional)")
        self.nfs_edit.setPlaceholderText("nas01.corp.example:/volume1/backups (optional)")
        self.test_button = QPushButton("&Test", self)
        self.test_button.setObjectName("repoTest")
        self.test_button.setAccessibleName("Test: is the folder readable and does it hold restore points")
        self.test_button.clicked.connect(self.start_test)
        self.result_label = QLabel("", self)
        self.result_label.setObjectName("repoTestResult")
        self.result_label.setAccessibleName("Test result")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        folder_row = QHBoxLayout()
        folder_row.addWidget(self.path_edit, 1)
        folder_row.addWidget(self.browse_button)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.result_label, 1)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        name_label = QLabel("Na&me:", self)
        name_label.setBuddy(self.name_edit)
        path_label = QLabel("&Folder:", self)
        path_label.setBuddy(self.path_edit)
        nfs_label = QLabel("NFS e&xport:", self)
        nfs_label.setBuddy(self.nfs_edit)
        form.addRow(name_label, self.name_edit)
        form.addRow(path_label, folder_row)
        hint = QLabel("The folder as <i>this computer</i> sees it (a UNC path or a drive). The NFS export is "
                      "how the ESXi hosts reach the same folder; it is needed only for instant recovery.", self)
        hint.setWordWrap(True)
        form.addRow("", hint)
        form.addRow(nfs_label, self.nfs_edit)
        form.addRow("", test_row)
        self.path_edit.textChanged.connect(lambda _t: self.result_label.setText(""))

    def values(self) -> tuple[str, str, str]:
        return self.name_edit.text().strip(), self.path_edit.text().strip(), self.nfs_edit.text().strip()

    def set_values(self, name: str, path: str, nfs: str | None) -> None:
        self.name_edit.setText(name)
        self.path_edit.setText(path)
        self.nfs_edit.setText(nfs or "")

    def show_result(self, text: str, ok: bool) -> None:
        self.result_label.setText(text)
        self.result_label.setStyleSheet("" if ok else "color: #d32f2f;")

    async def _browse(self) -> None:
        start = self.path_edit.text().strip() or str(Path.home())
        chosen = await self._pick_folder(self, start)
        if chosen:
            self.path_edit.setText(chosen)
            if not self.name_edit.text().strip() and self.name_edit.isEnabled():
                self.name_edit.setText(Path(chosen).name or "backups")
            self.path_edit.setFocus()

    def start_test(self) -> asyncio.Task[Any]:
        return self._tasks.spawn(self.test(), name="repo-test")

    async def test(self) -> Any:
        path = self.path_edit.text().strip()
        self.test_button.setEnabled(False)
        self.show_result("Reading the folder…", True)
        try:
            check = await call_io(self._admin.test, path)
        except Exception as exc:
            log.exception("Testing the repository folder failed")
            self.show_result(describe(exc).text, False)
            return None
        finally:
            self.test_button.setEnabled(True)
        text = check.message
        if check.problems:
            text += "\n" + "\n".join(f"• {p}" for p in check.problems)
        self.show_result(("✔ " if check.ok else "✖ ") + text, check.ok)
        self.last_check = check
        self.tested.emit(check)
        return check

    def close_tasks(self) -> None:
        self._tasks.cancel_all()


class RepositoryDialog(QDialog):
    """Add or edit one repository; Save runs the use case and shows its refusal inline."""

    def __init__(self, admin: Any, parent: QWidget | None = None, *, existing: Any = None,
                 pick_folder: FolderPicker | None = None) -> None:
        super().__init__(parent)
        self._admin = admin
        self._existing = existing
        self._tasks = TaskSet()
        self.saved: Any = None
        editing = existing is not None
        self.setObjectName("repositoryDialog")
        self.setWindowTitle(f"Edit repository {existing.name}" if editing else "Add a backup repository")
        self.setAccessibleName(self.windowTitle())
        self.setMinimumWidth(560)
        self.form = RepositoryForm(admin, self, name_editable=not editing, pick_folder=pick_folder)
        if editing:
            self.form.set_values(existing.name, existing.path, existing.nfs)
        self.error_label = QLabel("", self)
        self.error_label.setObjectName("repoError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.setAccessibleName("Error")
        self.buttons = QDialogButtonBox(self)
        self.save_button = QPushButton("&Save" if editing else "A&dd repository", self)
        self.save_button.setObjectName("repoSave")
        self.save_button.setDefault(True)
        cancel = QPushButton("Cancel", self)
        cancel.setObjectName("repoCancel")
        self.buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(cancel, QDialogButtonBox.ButtonRole.RejectRole)
        self.save_button.clicked.connect(lambda: self._tasks.spawn(self.save(), name="repo-save"))
        cancel.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        (self.form.path_edit if editing else self.form.name_edit).setFocus()

    async def save(self) -> Any:
        name, path, nfs = self.form.values()
        self.save_button.setEnabled(False)
        self.error_label.setText("")
        try:
            if self._existing is None:
                repo = await call_io(self._admin.add, name, path, nfs or None)
            else:
                repo = await call_io(lambda: self._admin.edit(name, path, nfs or None, clear_nfs=not nfs))
        except Exception as exc:
            if not hasattr(exc, "code"):
                log.exception("Saving the repository failed")
            self.error_label.setText(describe(exc).text)
            self.save_button.setEnabled(True)
            return None
        self.saved = repo
        self.accept()
        return repo

    def done(self, result: int) -> None:
        self._tasks.cancel_all()
        self.form.close_tasks()
        super().done(result)
