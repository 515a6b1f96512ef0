"""Find a file in every indexed restore point: the search form and its results table."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from PySide6.QtCore import QDate, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileIconProvider,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vmrestore.app.catalog_service import HitCount, SearchHit
from vmrestore.errors import InvalidInput
from vmrestore.model import FileEntry, FileType, GuestPath, format_size
from vmrestore.ui.restore.table_base import RowsTableModel
from vmrestore.ui.sorting import SortProxy

from ..errors import show_error
from ..formatting import local_time
from ..tasks import TaskSet, call_io
from .folder_model import BrowseItem
from .ports import CatalogLike

Index = QModelIndex | QPersistentModelIndex
log = logging.getLogger(__name__)

SEARCH_LIMIT = 500


def hit_item(hit: SearchHit) -> BrowseItem:
    """A search hit as a file of its (newest) restore point, ready for versions or extraction."""
    entry = FileEntry(path=hit.path, name=hit.name, type=hit.type, size=hit.size or 0, mtime=hit.mtime)
    return BrowseItem(hit.point_id, hit_path(hit), entry)


def hit_path(hit: SearchHit) -> GuestPath:
    return GuestPath.in_volume(hit.disk_key, hit.volume_index, hit.path)


def hit_folder(hit: SearchHit) -> GuestPath:
    """The restore-point path of the folder that holds the hit."""
    return hit_path(hit).parent


class SearchModel(RowsTableModel):
    COL_VM, COL_POINT, COL_PATH, COL_SIZE, COL_MODIFIED, COL_SPAN = range(6)
    HEADERS = ("VM", "Restore point", "Path", "Size", "Modified", "Same file in")

    SortRole = Qt.ItemDataRole.UserRole + 1  # native values: str, datetime, int bytes
    RowRole = Qt.ItemDataRole.UserRole + 2  # SearchHit

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[SearchHit] = []
        icons = QFileIconProvider()
        self._icons = {FileType.DIR: icons.icon(QFileIconProvider.IconType.Folder),
                       FileType.FILE: icons.icon(QFileIconProvider.IconType.File),
                       FileType.SYMLINK: icons.icon(QFileIconProvider.IconType.File)}

    def set_hits(self, hits: list[SearchHit]) -> None:
        self.beginResetModel()
        self._rows = list(hits)
        self.endResetModel()

    def hit(self, row: int) -> SearchHit:
        return self._rows[row]

    def hits(self) -> list[SearchHit]:
        return list(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        hit, column = self._rows[index.row()], index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if column == self.COL_VM:
                return hit.vm
            if column == self.COL_POINT:
                return local_time(hit.created)[:16]
            if column == self.COL_PATH:
                return str(hit_path(hit))
            if column == self.COL_SIZE:
                return "" if hit.type is FileType.DIR else format_size(hit.size)
            if column == self.COL_MODIFIED:
                return local_time(hit.mtime)
            if column == self.COL_SPAN:
                first, last = local_time(hit.first_seen)[:10], local_time(hit.last_seen)[:10]
                return first if first == last else f"{first} → {last}"
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == self.COL_PATH:
            return self._icons.get(hit.type)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.COL_SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column == self.COL_PATH:
            return f"{hit_path(hit)}\nSame file in every indexed restore point of {hit.vm} from " \
                   f"{local_time(hit.first_seen)} to {local_time(hit.last_seen)}; shown: the newest."
        if role == Qt.ItemDataRole.ToolTipRole and column == self.COL_SPAN:
            return (f"This version is in every indexed restore point of {hit.vm} from "
                    f"{local_time(hit.first_seen)} to {local_time(hit.last_seen)}; shown: the newest.")
        if role == self.SortRole:
            return self._sort_value(hit, column)
        if role == self.RowRole:
            return hit
        return None

    def _sort_value(self, hit: SearchHit, column: int) -> Any:
        if column == self.COL_VM:
            return hit.vm.casefold()
        if column == self.COL_POINT:
            return hit.created
        if column == self.COL_PATH:
            return str(hit_path(hit)).casefold()
        if column == self.COL_SIZE:
            return int(hit.size) if hit.size is not None else -1
        if column == self.COL_MODIFIED:
            return hit.mtime
        if column == self.COL_SPAN:
            return hit.first_seen
        return None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min).astimezone()  # local midnight, as the operator means it


class SearchPanel(QWidget):
    """Pattern (substring or ``*.xlsx``), optional VM and date range, results; emits what to open."""

    openRequested = Signal(object)  # SearchHit: Enter or double-click on a result
    searchFinished = Signal(int)  # number of hits (-1: failed)
    totalCounted = Signal(object)  # HitCount of the search just shown (after searchFinished)

    def __init__(self, catalog: CatalogLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._catalog = catalog
        self._tasks = TaskSet()
        self.limit = SEARCH_LIMIT  # hits shown; beyond it the status line gives the total
        self.pattern_edit = QLineEdit(self)
        self.pattern_edit.setObjectName("searchPattern")
        self.pattern_edit.setPlaceholderText("File name or pattern, e.g. Q3-report or *.xlsx")
        self.pattern_edit.setAccessibleName("Search for a file")
        self.pattern_edit.setAccessibleDescription(
            "Part of a file name, or a pattern with * and ?, searched in every indexed restore point")
        self.pattern_edit.setClearButtonEnabled(True)
        self.vm_combo = QComboBox(self)
        self.vm_combo.setObjectName("searchVm")
        self.vm_combo.setAccessibleName("Only this VM")
        self.vm_combo.addItem("All VMs", None)
        self.since_check = QCheckBox("Fro&m", self)
        self.since_check.setAccessibleName("Only restore points from this date")
        self.since_edit = QDateEdit(self)
        self.since_edit.setAccessibleName("From date")
        self.until_check = QCheckBox("&Until", self)
        self.until_check.setAccessibleName("Only restore points up to this date")
        self.until_edit = QDateEdit(self)
        self.until_edit.setAccessibleName("To date")
        today = QDate.currentDate()
        for edit, value in ((self.since_edit, today.addDays(-7)), (self.until_edit, today)):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(value)
            edit.setEnabled(False)
            inner = edit.findChild(QLineEdit)
            if inner is not None:
                inner.setAccessibleName(edit.accessibleName())
        self.since_check.toggled.connect(self.since_edit.setEnabled)
        self.until_check.toggled.connect(self.until_edit.setEnabled)
        self.search_button = QPushButton("Se&arch", self)
        self.search_button.setObjectName("searchButton")
        self.search_button.setAccessibleName("Search all restore points")
        self.search_button.setDefault(False)
        self.search_button.clicked.connect(self.start_search)
        self.pattern_edit.returnPressed.connect(self.start_search)

        self.model = SearchModel(self)
        self.proxy = SortProxy(SearchModel.SortRole, self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView(self)
        self.table.setObjectName("searchResults")
        self.table.setAccessibleName("Search results")
        self.table.setAccessibleDescription("Enter or double-click opens the folder that holds the file")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(SearchModel.COL_POINT, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)  # columns fit their contents after each search; the table scrolls
        self.table.activated.connect(self._activated)
        self.status = QLabel("Search every indexed restore point by file name.", self)
        self.status.setObjectName("searchStatus")
        self.status.setAccessibleName("Search status")
        self.status.setWordWrap(True)

        first = QHBoxLayout()
        first.addWidget(self.pattern_edit, 1)
        first.addWidget(self.search_button)
        second = QHBoxLayout()
        second.addWidget(self.vm_combo)
        second.addSpacing(8)
        second.addWidget(self.since_check)
        second.addWidget(self.since_edit)
        second.addWidget(self.until_check)
        second.addWidget(self.until_edit)
        second.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(first)
        layout.addLayout(second)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

    def set_vms(self, names: list[str]) -> None:
        current = self.vm_combo.currentData()
        self.vm_combo.clear()
        self.vm_combo.addItem("All VMs", None)
        for name in names:
            self.vm_combo.addItem(name, name)
        found = self.vm_combo.findData(current)
        self.vm_combo.setCurrentIndex(max(found, 0))

    def focus_search(self) -> None:
        self.pattern_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.pattern_edit.selectAll()

    def date_range(self) -> tuple[datetime | None, datetime | None]:
        since_day: date = self.since_edit.date().toPython()  # type: ignore[assignment]  # QDate -> date
        until_day: date = self.until_edit.date().toPython()  # type: ignore[assignment]
        since = _start_of(since_day) if self.since_check.isChecked() else None
        until = None
        if self.until_check.isChecked():
            until = _start_of(until_day + timedelta(days=1)) - timedelta(microseconds=1)
        return since, until

    def selected_hits(self) -> list[SearchHit]:
        rows = self.table.selectionModel().selectedRows()
        return [self.proxy.mapToSource(index).data(SearchModel.RowRole) for index in rows]

    def start_search(self) -> None:
        self._tasks.cancel_all()
        self._tasks.spawn(self.search(), name="search")

    async def search(self) -> list[SearchHit] | None:
        pattern = self.pattern_edit.text().strip()
        vm = self.vm_combo.currentData()
        since, until = self.date_range()
        self.status.setText(f"Searching for “{pattern}”…")
        loop = asyncio.get_running_loop()
        catalog, limit = self._catalog, self.limit

        def run() -> list[SearchHit]:
            if not pattern:
                raise InvalidInput("Type a file name or a pattern such as *.xlsx to search for")
            return catalog.search(pattern, vm, limit, since=since, until=until)

        try:
            hits = await loop.run_in_executor(None, run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.status.setText("The search failed.")
            show_error(self, exc, context="Searching the catalog failed.")
            self.searchFinished.emit(-1)
            return None
        self.model.set_hits(hits)
        self.fit_columns()
        if not hits:
            self.status.setText(f"No indexed file matches “{pattern}”. Points that are not indexed yet are not "
                                "searched: use Index now.")
        elif len(hits) >= limit:
            self.status.setText(f"The first {len(hits):,} matches are shown; counting all matches…")
        else:
            self.status.setText(f"{len(hits)} match{'es' if len(hits) != 1 else ''}. Enter opens the folder.")
        if hits:
            self.table.selectRow(0)
        self.searchFinished.emit(len(hits))
        if len(hits) < limit:  # the page holds every hit: that is the total
            self.totalCounted.emit(HitCount(len(hits), False))
        else:  # shown first, counted after: the results never wait for the count
            await self._count(pattern, vm, since, until, len(hits))
        return hits

    async def _count(self, pattern: str, vm: str | None, since: datetime | None, until: datetime | None,
                     shown: int) -> None:
        """"Showing 1–500 of 12,345 matches" (or "of 10,000+": the count stops at the store's cap)."""
        catalog = self._catalog
        try:
            total: HitCount = await call_io(lambda: catalog.count_hits(pattern, vm, since=since, until=until))
        except asyncio.CancelledError:
            raise
        except Exception:  # the hits are shown; a failed count only loses the total
            log.warning("Counting the hits of %r failed", pattern, exc_info=True)
            self.status.setText(f"The first {shown:,} matches are shown; narrow the search to see others.")
            return
        self.status.setText(f"Showing 1–{shown:,} of {total.text()} matches; narrow the search to see the others.")
        self.totalCounted.emit(total)

    def fit_columns(self) -> None:
        """Columns fit their contents, but the path never pushes the file's name out of sight: on a narrow
        window (1024 px) it gets what is left and is elided in the middle, so "…/Documents/Q3-report.xlsx"
        stays readable (the whole path is in the tooltip)."""
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        for column in range(self.model.columnCount()):
            header.resizeSection(column, header.sectionSize(column) + 8)  # the style's padding, not a cut-off
        others = sum(header.sectionSize(c) for c in range(self.model.columnCount()) if c != SearchModel.COL_PATH)
        room = self.table.viewport().width() - others
        wanted = header.sectionSize(SearchModel.COL_PATH)
        header.resizeSection(SearchModel.COL_PATH, max(220, min(wanted, room)))

    def _activated(self, index: QModelIndex) -> None:
        hit = self.proxy.mapToSource(index).data(SearchModel.RowRole)
        if hit is not None:
            self.openRequested.emit(hit)

    def close_tasks(self) -> None:
        self._tasks.cancel_all()
