"""The one sort proxy of every table: compare the source model's ``SortRole`` values as Python values.

Models return native values for sorting (sizes as Python ints: Qt's 32-bit ints truncate bytes; times as
``datetime``). ``None`` (unknown size, a job not started yet, a folder without a time) sorts after every
value in ascending order, in every table alike; values of different types compare by their text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt

Index = QModelIndex | QPersistentModelIndex


def sort_less(a: Any, b: Any) -> bool:
    """``a < b`` with the app's one order for ``None`` (last) and for values that do not compare."""
    if a is None or b is None:
        return a is not None and b is None
    try:
        return bool(a < b)
    except TypeError:
        return str(a) < str(b)


class SortProxy(QSortFilterProxyModel):
    """Sorts by ``sort_role``; subclasses add their own ``filterAcceptsRow`` when they filter.

    A source model may offer ``sort_value(row, column)``, the same value its ``data()`` returns for the sort
    role: the proxy then reads it directly. Sorting a thousand rows makes about ten thousand comparisons, each
    otherwise two ``data()`` calls through Qt (issue 13 §5: the snapshot table's sort held the Qt thread)."""

    def __init__(self, sort_role: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(sort_role)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._sort_value: Callable[[int, int], Any] | None = None

    def setSourceModel(self, model: QAbstractItemModel) -> None:
        self._sort_value = getattr(model, "sort_value", None)
        super().setSourceModel(model)

    def lessThan(self, left: Index, right: Index) -> bool:
        value = self._sort_value
        if value is not None and self.sortRole() == getattr(self.sourceModel(), "SORT_ROLE", None):
            return sort_less(value(left.row(), left.column()), value(right.row(), right.column()))
        return sort_less(left.data(self.sortRole()), right.data(self.sortRole()))
