"""The audit log as a table model: newest entry first, rows handed to the view a page at a time.

The whole log is read off the Qt thread (``AuditView``); ``set_entries`` then resets the model, and the view
pulls rows in pages through ``canFetchMore``/``fetchMore`` so a long log does not stall the first paint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from vmrestore.ui.sorting import SortProxy

from .formatting import iso_time, local_time
from .ports import AuditEntryLike

Index = QModelIndex | QPersistentModelIndex


class AuditModel(QAbstractTableModel):
    COL_TIME, COL_OS_USER, COL_VC_USER, COL_ROLE, COL_ACTION, COL_TARGET, COL_RESULT = range(7)
    HEADERS = ("Time", "OS user", "vCenter user", "Role", "Action", "Target", "Result")
    SortRole = Qt.ItemDataRole.UserRole + 1
    RowRole = Qt.ItemDataRole.UserRole + 2
    PAGE = 500

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._all: list[AuditEntryLike] = []
        self._shown = 0

    def set_entries(self, entries: Sequence[AuditEntryLike]) -> None:
        self.beginResetModel()
        self._all = sorted(entries, key=lambda e: e.seq, reverse=True)
        self._shown = min(self.PAGE, len(self._all))
        self.endResetModel()

    def total(self) -> int:
        return len(self._all)

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and self._shown < len(self._all)

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid():
            return
        extra = min(self.PAGE, len(self._all) - self._shown)
        if extra <= 0:
            return
        self.beginInsertRows(QModelIndex(), self._shown, self._shown + extra - 1)
        self._shown += extra
        self.endInsertRows()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else self._shown

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < self._shown):
            return None
        entry = self._all[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if column == self.COL_TIME:
                return local_time(entry.time)
            return str(self._value(entry, column) or "")
        if role == self.SortRole:
            value = self._value(entry, column)
            return entry.seq if column == self.COL_TIME else str(value or "").casefold()
        if role == self.RowRole:
            return entry
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.COL_TIME:
                return f"{iso_time(entry.time)} (entry #{entry.seq})"
            detail = getattr(entry, "detail", None)
            if column == self.COL_TARGET:
                return f"{entry.target}\n{detail}" if detail else entry.target
            if column == self.COL_RESULT and detail:
                return str(detail)
        return None

    def _value(self, entry: AuditEntryLike, column: int) -> Any:
        return (
            entry.time,
            entry.os_user,
            entry.vcenter_user,
            entry.role,
            entry.action,
            entry.target,
            entry.result,
        )[column]


class AuditSortProxy(SortProxy):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(AuditModel.SortRole, parent)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
