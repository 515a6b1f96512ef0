"""The one sort proxy every table uses: native values, ``None`` last, mixed types by text."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel

from vmrestore.ui.sorting import SortProxy, sort_less

ROLE = Qt.ItemDataRole.UserRole + 1


def _sorted(values: list[object], order: Qt.SortOrder) -> list[object]:
    model = QStandardItemModel()
    for value in values:
        item = QStandardItem(str(value))
        item.setData(value, ROLE)
        model.appendRow(item)
    proxy = SortProxy(ROLE)
    proxy.setSourceModel(model)
    proxy.sort(0, order)
    return [proxy.index(row, 0).data(ROLE) for row in range(proxy.rowCount())]


def test_none_sorts_last_and_sizes_compare_as_python_ints(qapp) -> None:
    big = 5 * 1024**3  # over 2**31: a Qt int would truncate it
    assert _sorted([big, None, 7, 2**31 + 1], Qt.SortOrder.AscendingOrder) == [7, 2**31 + 1, big, None]
    assert _sorted([big, None, 7], Qt.SortOrder.DescendingOrder) == [None, big, 7]
    assert sort_less(None, None) is False and sort_less(1, None) and not sort_less(None, 1)
    assert sort_less("10", 2) and not sort_less(2, "10")  # different types: by their text, no TypeError


def test_every_table_proxy_is_the_one_sort_proxy() -> None:
    from vmrestore.ui.audit_model import AuditSortProxy
    from vmrestore.ui.jobs_model import JobsSortProxy
    from vmrestore.ui.snapshots.models import SnapshotFilterProxy

    for proxy in (AuditSortProxy, JobsSortProxy, SnapshotFilterProxy):
        assert issubclass(proxy, SortProxy) and "lessThan" not in vars(proxy), proxy
