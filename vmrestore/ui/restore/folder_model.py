"""The folder table next to the tree: what the selected restore point, disk, volume or folder contains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QApplication, QFileIconProvider, QStyle

from vmrestore.model import FileEntry, FileType, GuestPath, format_size
from vmrestore.ui.restore.table_base import RowsTableModel

from ..formatting import local_time
from .display import type_text

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class BrowseItem:
    """One file or folder of a restore point, addressed as ``catalog.extract`` and ``versions`` want it."""

    point_id: str
    where: GuestPath  # /disk0/vol1/Users/alice/a.txt (disks and volumes: /disk0, /disk0/vol1)
    entry: FileEntry

    @property
    def guest_path(self) -> str:
        return str(self.where)

    @property
    def volume_key(self) -> str:
        """``/disk0/vol1``: extraction of picked files works one volume at a time."""
        return str(self.where.volume_root)

    @property
    def in_volume(self) -> bool:
        """A file or folder of a volume (not a disk or a volume itself)."""
        return self.where.is_inside_volume

    @property
    def is_dir(self) -> bool:
        return self.entry.type is FileType.DIR


class FolderModel(RowsTableModel):
    COL_NAME, COL_SIZE, COL_MODIFIED, COL_TYPE = range(4)
    HEADERS = ("Name", "Size", "Modified", "Type")

    SortRole = Qt.ItemDataRole.UserRole + 1  # native values: (folder-first rank, name), int bytes, datetime
    RowRole = Qt.ItemDataRole.UserRole + 2  # BrowseItem

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[BrowseItem] = []
        self.location = ""  # the restore-point path shown, for the page's title
        provider = QFileIconProvider()
        self._folder_icon = provider.icon(QFileIconProvider.IconType.Folder)
        self._file_icon = provider.icon(QFileIconProvider.IconType.File)
        self._drive_icon = provider.icon(QFileIconProvider.IconType.Drive)
        self._link_icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_FileLinkIcon)

    def set_items(self, items: list[BrowseItem], location: str = "") -> None:
        self.beginResetModel()
        self._rows = list(items)
        self.location = location
        self.endResetModel()

    def clear(self) -> None:
        self.set_items([], "")

    def item(self, row: int) -> BrowseItem:
        return self._rows[row]

    def items(self) -> list[BrowseItem]:
        return list(self._rows)

    def row_of(self, guest_path: str) -> int | None:
        for row, item in enumerate(self._rows):
            if item.guest_path == guest_path:
                return row
        return None

    # -- Qt model API ------------------------------------------------------------------------------
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        item, column = self._rows[index.row()], index.column()
        entry = item.entry
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if column == self.COL_NAME:
                return entry.name
            if column == self.COL_SIZE:
                return "" if entry.type is FileType.DIR and item.in_volume else format_size(entry.size)
            if column == self.COL_MODIFIED:
                return local_time(entry.mtime)
            if column == self.COL_TYPE:
                if not item.in_volume:
                    return "Volume" if item.where.volume is not None else "Disk"
                return type_text(entry)
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == self.COL_NAME:
            if not item.in_volume:
                return self._drive_icon
            if entry.type is FileType.DIR:
                return self._folder_icon
            return self._link_icon if entry.type is FileType.SYMLINK else self._file_icon
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.COL_SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column == self.COL_NAME:
            return item.guest_path
        if role == self.SortRole:
            return sort_value(item, column)
        if role == self.RowRole:
            return item
        return None


def sort_value(item: BrowseItem, column: int) -> Any:
    entry = item.entry
    folder_rank = 0 if entry.type is FileType.DIR else 1
    if column == FolderModel.COL_NAME:
        return (folder_rank, entry.name.casefold())
    if column == FolderModel.COL_SIZE:
        return int(entry.size) if entry.type is not FileType.DIR else -1
    if column == FolderModel.COL_MODIFIED:
        return entry.mtime
    if column == FolderModel.COL_TYPE:
        return (folder_rank, type_text(entry).casefold())
    return None
