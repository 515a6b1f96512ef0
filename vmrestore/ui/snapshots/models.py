"""The snapshot table: one row per snapshot, sortable on native values (sizes as Python ints)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from vmrestore.app.snapshots.types import ClassifiedSnapshot, SnapshotClass, SnapshotReport
from vmrestore.model import format_size
from vmrestore.ui.sorting import SortProxy

SortRole = Qt.ItemDataRole.UserRole + 1
RowRole = Qt.ItemDataRole.UserRole + 2

COL_VM, COL_NAME, COL_CREATED, COL_AGE, COL_SIZE, COL_CLASS, COL_DATASTORE, COL_REASONS = range(8)
HEADERS = ("VM", "Snapshot", "Created", "Age (days)", "Size", "Class", "Datastore", "Reasons")

AnyIndex = QModelIndex | QPersistentModelIndex


class SnapshotTableModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ClassifiedSnapshot] = []

    def set_report(self, report: SnapshotReport | None) -> None:
        self.beginResetModel()
        self._rows = list(report.snapshots) if report is not None else []
        self.endResetModel()

    def rows(self) -> list[ClassifiedSnapshot]:
        return list(self._rows)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(HEADERS):
            return HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        s = self._rows[index.row()]
        col = index.column()
        if role == RowRole:
            return s
        if role == SortRole:
            return (s.vm.casefold(), s.name.casefold(), s.snapshot.created.timestamp(), s.age_days, s.size,
                    str(s.primary_class), s.datastore, "; ".join(s.reasons))[col]
        if role == Qt.ItemDataRole.DisplayRole:
            return (s.vm, s.name, s.snapshot.created.astimezone().strftime("%Y-%m-%d %H:%M"),
                    f"{s.age_days:.1f}", format_size(s.size), ", ".join(str(c) for c in s.classes),
                    s.datastore, "; ".join(s.reasons))[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(s.reasons) or "No findings"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_AGE, COL_SIZE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class SnapshotFilterProxy(SortProxy):
    """Sorts on ``SortRole``; filters on text (VM or snapshot name) and class."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(SortRole, parent)
        self._text = ""
        self._klass: SnapshotClass | None = None

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_class(self, klass: SnapshotClass | None) -> None:
        self.beginFilterChange()
        self._klass = klass
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        model = self.sourceModel()
        s = model.data(model.index(source_row, 0, source_parent), RowRole)
        if not isinstance(s, ClassifiedSnapshot):
            return False
        if self._klass is not None and self._klass not in s.classes:
            return False
        return not self._text or self._text in s.vm.casefold() or self._text in s.name.casefold()

