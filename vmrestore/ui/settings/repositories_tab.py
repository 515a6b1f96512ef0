"""Settings › Repositories: the registered backup repositories, with Add…, Edit…, Remove… and Test.

Only asks and shows: ``RepositoryAdmin`` (the same use case as ``vmrestore repo …``) validates, checks the
role and writes the audit entry. Removing forgets the repository in the catalog; the backup files stay.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vmrestore.app.repositories import RepositoryAdmin

from ..errors import describe, show_error
from ..tasks import TaskSet, ask, call_io
from .repository_form import FolderPicker, RepositoryDialog


def reason_label(parent: QWidget, reason: str | None) -> QLabel:
    label = QLabel(reason or "", parent)
    label.setObjectName("adminOnlyReason")
    label.setWordWrap(True)
    label.setStyleSheet("color: #b26a00;")
    label.setVisible(bool(reason))
    return label


class RepositoriesTab(QWidget):
    changed = Signal()

    def __init__(self, services: Any, admin: RepositoryAdmin, reason: str | None, parent: QWidget,
                 pick_folder: FolderPicker | None) -> None:
        super().__init__(parent)
        self._services = services
        self._admin = admin
        self._pick_folder = pick_folder
        self._tasks = TaskSet()
        self._repos: list[Any] = []
        self.table = QTableWidget(0, 4, self)
        self.table.setObjectName("repositoriesTable")
        self.table.setAccessibleName("Backup repositories")
        self.table.setHorizontalHeaderLabels(["Name", "Folder (this computer)", "NFS export (ESXi hosts)",
                                              "Restore points"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (0, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemActivated.connect(lambda _item: self.edit_selected())
        self.add_button = QPushButton("A&dd…", self)
        self.add_button.setObjectName("repoAdd")
        self.add_button.setAccessibleName("Add a backup repository")
        self.add_button.clicked.connect(self.add)
        self.edit_button = QPushButton("&Edit…", self)
        self.edit_button.setObjectName("repoEdit")
        self.edit_button.setAccessibleName("Edit the selected repository")
        self.edit_button.clicked.connect(self.edit_selected)
        self.remove_button = QPushButton("Re&move…", self)
        self.remove_button.setObjectName("repoRemove")
        self.remove_button.setAccessibleName("Remove the selected repository from the catalog")
        self.remove_button.clicked.connect(self.remove_selected)
        self.test_button = QPushButton("&Test", self)
        self.test_button.setObjectName("repoTestSelected")
        self.test_button.setAccessibleName("Test the selected repository's folder")
        self.test_button.clicked.connect(lambda: self._tasks.spawn(self.test_selected(), name="repo-test"))
        self.status = QLabel("", self)
        self.status.setObjectName("repositoriesStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._reason = reason
        buttons = QVBoxLayout()
        for button in (self.add_button, self.edit_button, self.remove_button, self.test_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.table, 1)
        row.addLayout(buttons)
        intro = QLabel("Folders where the backups are (ghettoVCB layout: <i>VM</i>\\<i>VM</i>-date). "
                       "Removing one only forgets it in the catalog; the backup files stay.", self)
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(reason_label(self, reason))
        layout.addLayout(row, 1)
        layout.addWidget(self.status)
        self._update_buttons()

    def _selected(self) -> Any:
        rows = self.table.selectionModel().selectedRows()
        return self._repos[rows[0].row()] if rows else None

    def _update_buttons(self) -> None:
        admin = self._reason is None
        chosen = self._selected() is not None
        self.add_button.setEnabled(admin)
        self.edit_button.setEnabled(admin and chosen)
        self.remove_button.setEnabled(admin and chosen)
        self.test_button.setEnabled(chosen)
        for button in (self.add_button, self.edit_button, self.remove_button):
            button.setToolTip(self._reason or "")

    async def reload(self, select: str | None = None) -> None:
        try:
            infos = await call_io(self._services.catalog.repositories)
        except Exception as exc:
            self.status.setText(f"Could not read the catalog: {describe(exc).text}")
            return
        self._repos = [i.repo for i in infos]
        self.table.setRowCount(len(infos))
        for row, info in enumerate(infos):
            values = (info.repo.name, info.repo.path, info.repo.nfs or "—", str(info.points))
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                if col == 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
            if info.repo.name == select:
                self.table.selectRow(row)
        if not infos:
            self.status.setText("No repository yet. Add… asks for the folder and tests it.")
        elif select is None and self.table.currentRow() < 0:
            self.table.selectRow(0)
        self._update_buttons()

    def add(self) -> RepositoryDialog:
        return self._open_dialog(None)

    def edit_selected(self) -> RepositoryDialog | None:
        repo = self._selected()
        if repo is None or self._reason is not None:
            return None
        return self._open_dialog(repo)

    def _open_dialog(self, existing: Any) -> RepositoryDialog:
        dialog = RepositoryDialog(self._admin, self, existing=existing, pick_folder=self._pick_folder)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def saved(result: int) -> None:
            if result == QDialog.DialogCode.Accepted.value and dialog.saved is not None:
                verb = "saved" if existing is not None else "added; Index now on the Restore points page finds " \
                    "its restore points"
                self.status.setText(f"Repository {dialog.saved.name} {verb}.")
                self._tasks.spawn(self.reload(dialog.saved.name), name="repo-reload")
                self.changed.emit()
            self.table.setFocus()

        dialog.finished.connect(saved)
        dialog.open()
        return dialog

    def remove_selected(self) -> None:
        repo = self._selected()
        if repo is not None:
            self._tasks.spawn(self.remove(repo), name="repo-remove")

    async def remove(self, repo: Any) -> bool:
        from PySide6.QtWidgets import QMessageBox

        points = len(await call_io(lambda: self._services.catalog.points(repo=repo.name)))
        box = QMessageBox(QMessageBox.Icon.Question, "Remove repository",
                          f"Forget the repository {repo.name} ({repo.path}) and its {points} restore point(s) "
                          "in the catalog?\n\nThe backup files are not touched; adding the folder again and "
                          "indexing brings the restore points back.", QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("confirmRemoveRepository")
        remove = box.addButton(f"&Remove {repo.name}", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        await ask(box)
        if box.clickedButton() is not remove:
            box.deleteLater()
            return False
        box.deleteLater()
        try:
            forgotten = await call_io(self._admin.remove, repo.name)
        except Exception as exc:
            show_error(self, exc, context="The repository was not removed.")
            return False
        self.status.setText(f"Repository {repo.name} removed; {forgotten} restore point(s) forgotten.")
        await self.reload()
        self.changed.emit()
        return True

    async def test_selected(self) -> Any:
        repo = self._selected()
        if repo is None:
            return None
        self.status.setText(f"Testing {repo.path}…")
        check = await call_io(self._admin.test, repo.path)
        self.status.setText(("✔ " if check.ok else "✖ ") + check.message)
        return check

    def close_tasks(self) -> None:
        self._tasks.cancel_all()
