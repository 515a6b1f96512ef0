"""The snapshot table: one row per snapshot, sortable on native values (sizes as Python ints)."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """One table row with its display texts and sort keys computed once, by ``snapshot_rows``."""

    snapshot: ClassifiedSnapshot
    display: tuple[str, ...]
    sort: tuple[Any, ...]
    tooltip: str


def snapshot_row(s: ClassifiedSnapshot) -> SnapshotRow:
    return SnapshotRow(
        s,
        (s.vm, s.name, s.snapshot.created.astimezone().strftime("%Y-%m-%d %H:%M"), f"{s.age_days:.1f}",
         format_size(s.size), ", ".join(str(c) for c in s.classes), s.datastore, "; ".join(s.reasons)),
        (s.vm.casefold(), s.name.casefold(), s.snapshot.created.timestamp(), s.age_days, s.size,
         str(s.primary_class), s.datastore, "; ".join(s.reasons)),
        "\n".join(s.reasons) or "No findings",
    )


def snapshot_rows(report: SnapshotReport | None) -> list[SnapshotRow]:
    """Every row of ``report``. Qt-free and pure: the page runs it off the Qt thread (``ui.tasks.call_io``):
    for a 10,000-VM report, formatting on demand in ``data()`` cost seconds of the Qt thread (issue 13 §5)."""
    return [snapshot_row(s) for s in report.snapshots] if report is not None else []


class SnapshotTableModel(QAbstractTableModel):
    """Rows are replaced at once (``set_rows``) or appended in chunks (``clear`` + ``append_rows``), so a big
    report reaches the view a slice at a time with the event loop running in between (``SnapshotsPage``)."""

    SORT_ROLE = SortRole  # what ``sort_value`` answers for (ui.sorting.SortProxy reads it directly)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[SnapshotRow] = []

    def sort_value(self, row: int, column: int) -> Any:
        """``data(index(row, column), SortRole)`` without the trip through Qt."""
        return self._rows[row].sort[column]

    def set_report(self, report: SnapshotReport | None) -> None:
        """Replace every row at once (small reports, tests); the page fills big ones in chunks."""
        self.set_rows(snapshot_rows(report))

    def set_rows(self, rows: list[SnapshotRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def clear(self) -> None:
        self.set_rows([])

    def append_rows(self, rows: list[SnapshotRow]) -> None:
        if not rows:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self._rows.extend(rows)
        self.endInsertRows()

    def rows(self) -> list[ClassifiedSnapshot]:
        return [r.snapshot for r in self._rows]

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
        # Called for every role of every visible cell and twice per comparison when sorting: only look-ups.
        if role not in _ROLES or not index.isValid():
            return None
        row = index.row()
        if not 0 <= row < len(self._rows):
            return None
        r = self._rows[row]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return r.display[col]
        if role == SortRole:
            return r.sort[col]
        if role == RowRole:
            return r.snapshot
        if role == Qt.ItemDataRole.ToolTipRole:
            return r.tooltip
        if col in (COL_AGE, COL_SIZE):  # TextAlignmentRole
            return _RIGHT
        return None


_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, SortRole, RowRole, Qt.ItemDataRole.ToolTipRole,
                    Qt.ItemDataRole.TextAlignmentRole})
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


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

