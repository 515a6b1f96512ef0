"""“Versions of this file”: the same path in every indexed restore point of the VM, changes highlighted."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vmrestore.app.catalog_service import VersionInfo
from vmrestore.model import FileEntry, format_size
from vmrestore.ui.restore.table_base import RowsTableModel
from vmrestore.ui.sorting import SortProxy

from ..errors import describe
from ..formatting import local_time
from ..tasks import TaskSet
from .folder_model import BrowseItem
from .ports import CatalogLike

Index = QModelIndex | QPersistentModelIndex


class VersionsModel(RowsTableModel):
    COL_POINT, COL_SIZE, COL_MODIFIED, COL_CHANGED = range(4)
    HEADERS = ("Restore point", "Size", "Modified", "Changed")

    SortRole = Qt.ItemDataRole.UserRole + 1  # datetime, int bytes, bool
    RowRole = Qt.ItemDataRole.UserRole + 2  # VersionInfo

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[VersionInfo] = []

    def set_versions(self, versions: list[VersionInfo]) -> None:
        self.beginResetModel()
        self._rows = list(versions)
        self.endResetModel()

    def version(self, row: int) -> VersionInfo:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        version, column = self._rows[index.row()], index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if column == self.COL_POINT:
                return local_time(version.created)[:16]
            if column == self.COL_SIZE:
                return format_size(version.size)
            if column == self.COL_MODIFIED:
                return local_time(version.mtime)
            if column == self.COL_CHANGED:
                return "Changed" if version.changed else "Same as before"
            return None
        if role == Qt.ItemDataRole.FontRole and version.changed:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and version.changed:
            highlight = QApplication.palette().color(QPalette.ColorRole.Highlight)
            tint = QColor(highlight)
            tint.setAlpha(45)
            return QBrush(tint)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.COL_SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column == self.COL_CHANGED:
            return ("Differs from the previous indexed restore point, or is new in this one" if version.changed
                    else "Identical (size and modification time) to the previous restore point")
        if role == self.SortRole:
            return (version.created, int(version.size or 0), version.mtime, version.changed)[column]
        if role == self.RowRole:
            return version
        return None


class VersionsDialog(QDialog):
    """Lists ``catalog.versions(point, path)``; “Restore this version…” hands a file back to the page."""

    restoreRequested = Signal(object)  # BrowseItem of the chosen version
    loadedVersions = Signal(int)  # number of versions (-1: failed)

    def __init__(self, catalog: CatalogLike, item: BrowseItem, vm: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._catalog = catalog
        self._item = item
        self._tasks = TaskSet()
        self.setObjectName("versionsDialog")
        self.setWindowTitle(f"Versions of {item.entry.name}")
        self.setAccessibleName(f"Versions of {item.entry.name}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.resize(620, 360)
        heading = QLabel(f"<b>{item.entry.name}</b> on {vm}<br>{item.guest_path}", self)
        heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = VersionsModel(self)
        self.proxy = SortProxy(VersionsModel.SortRole, self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView(self)
        self.table.setObjectName("versionsTable")
        self.table.setAccessibleName("Versions, newest first; changed versions in bold")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(VersionsModel.COL_POINT, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.activated.connect(lambda _index: self._restore_selected())
        self.status = QLabel("Reading the catalog…", self)
        self.status.setAccessibleName("Versions status")
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.restore_button = QPushButton("&Restore this version…", self)
        self.restore_button.setAccessibleName("Restore the selected version to this computer")
        self.restore_button.setEnabled(False)
        buttons.addButton(self.restore_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.restore_button.clicked.connect(self._restore_selected)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(buttons)

    def start(self) -> None:
        self._tasks.spawn(self.load(), name="versions")

    async def load(self) -> list[VersionInfo] | None:
        loop = asyncio.get_running_loop()
        try:
            versions = await loop.run_in_executor(None, self._catalog.versions, self._item.point_id,
                                                  self._item.guest_path)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            described = describe(exc)
            self.status.setText(f"{described.title}: {described.text}")
            self.loadedVersions.emit(-1)
            return None
        self.model.set_versions(versions)
        changed = sum(1 for v in versions if v.changed)
        self.status.setText(f"In {len(versions)} indexed restore point(s); {changed} distinct version(s). "
                            "Changed rows are in bold.")
        if versions:
            self.table.selectRow(0)
            self.restore_button.setEnabled(True)
            self.table.setFocus()
        self.loadedVersions.emit(len(versions))
        return versions

    def _restore_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        version: VersionInfo = self.proxy.mapToSource(rows[0]).data(VersionsModel.RowRole)
        entry = FileEntry(path=self._item.entry.path, name=self._item.entry.name, type=version.type,
                          size=version.size or 0, mtime=version.mtime)
        self.restoreRequested.emit(BrowseItem(version.point_id, self._item.where, entry))

    def done(self, result: int) -> None:
        self._tasks.cancel_all()
        super().done(result)
