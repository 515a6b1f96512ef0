"""The restore-point tree: VM → restore point → disk → volume → folders, loaded lazily.

VMs and their restore points come from one catalog query (``reload``). Everything below a restore point
is listed only when the operator expands (or opens) it: ``canFetchMore`` is true for a node nobody listed
yet, ``fetchMore`` starts an asyncio task that runs ``catalog.list_dir`` in an executor and inserts the
children with ``beginInsertRows`` when it returns. The Qt thread never waits on the disk.

Only folders are children in the tree; a listed node keeps its whole listing (``entries``) for the folder
table next to the tree, so selecting a folder after expanding it costs no second read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import QApplication, QFileIconProvider, QStyle

from vmrestore.errors import InvalidInput
from vmrestore.model import DiskInfo, FileEntry, FileType, RestorePoint, VolumeInfo, format_size

from ..errors import describe
from ..formatting import local_time
from ..tasks import TaskSet
from .display import point_status_text
from .ports import CatalogLike
from .tree_nodes import LoadState, Node, NodeKind, VmGroup

log = logging.getLogger(__name__)

__all__ = ["LoadState", "Node", "NodeKind", "PointsTreeModel", "VmGroup"]

Index = QModelIndex | QPersistentModelIndex


class PointsTreeModel(QAbstractItemModel):
    # Status last: it is the long column (a damaged point's reason), it takes the width that is left.
    COL_NAME, COL_SIZE, COL_STATUS = range(3)
    HEADERS = ("Name", "Size", "Status")

    SortRole = Qt.ItemDataRole.UserRole + 1  # native values: str, datetime, int
    RowRole = Qt.ItemDataRole.UserRole + 2  # VmGroup, RestorePoint, DiskInfo, VolumeInfo or FileEntry
    KindRole = Qt.ItemDataRole.UserRole + 3  # NodeKind

    loaded = Signal(QModelIndex)  # a node's listing arrived (its children were inserted)
    loadFailed = Signal(QModelIndex, object)  # the node and the error (a value, never raised into a slot)
    reloaded = Signal()

    def __init__(self, catalog: CatalogLike, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._catalog = catalog
        self._root = Node(NodeKind.VM, None, 0, None)
        self._root.state = LoadState.LOADED
        self._tasks = TaskSet()
        self._generation = 0
        self.list_calls: list[tuple[str, str]] = []  # (point id, path) of every listing started, for the UI
        icons = QFileIconProvider()
        style = QApplication.style()
        # A damaged point, disk or volume carries a warning sign: visible however narrow the status column.
        self._damage_icon = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self._icons = {
            NodeKind.VM: style.standardIcon(QStyle.StandardPixmap.SP_ComputerIcon),
            NodeKind.POINT: style.standardIcon(QStyle.StandardPixmap.SP_FileDialogInfoView),
            NodeKind.DISK: icons.icon(QFileIconProvider.IconType.Drive),
            NodeKind.VOLUME: style.standardIcon(QStyle.StandardPixmap.SP_DriveHDIcon),
            NodeKind.DIR: icons.icon(QFileIconProvider.IconType.Folder),
        }

    # -- loading -----------------------------------------------------------------------------------
    async def reload(self, repo: str | None = None) -> None:
        """Read the restore points (in an executor) and replace the whole tree."""
        loop = asyncio.get_running_loop()
        points: list[RestorePoint] = await loop.run_in_executor(None, lambda: self._catalog.points(None, repo))
        by_vm: dict[str, list[RestorePoint]] = {}
        for point in points:
            by_vm.setdefault(point.vm, []).append(point)
        self.beginResetModel()
        self._tasks.cancel_all()
        self._generation += 1
        self._root.children = []
        for vm_row, name in enumerate(sorted(by_vm, key=str.casefold)):
            ordered = tuple(sorted(by_vm[name], key=lambda p: p.created, reverse=True))
            vm = Node(NodeKind.VM, self._root, vm_row, VmGroup(name, ordered))
            vm.state = LoadState.LOADED
            vm.children = [Node(NodeKind.POINT, vm, row, p, p) for row, p in enumerate(ordered)]
            self._root.children.append(vm)
        self.endResetModel()
        self.reloaded.emit()

    def canFetchMore(self, parent: Index) -> bool:
        node = self.node(parent)
        return node is not None and node.state is LoadState.IDLE and node.expandable

    def fetchMore(self, parent: Index) -> None:
        node = self.node(parent)
        if node is None or node.state is not LoadState.IDLE or not node.expandable:
            return
        node.state = LoadState.LOADING
        self._node_changed(node)
        self._tasks.spawn(self._load(node, self._generation), name=f"list {node.path}")

    async def ensure_loaded(self, index: Index) -> bool:
        """List ``index`` if nobody did yet and wait for it; True when its children are there."""
        node = self.node(index)
        if node is None:
            return True
        if node.state is LoadState.IDLE:
            self.fetchMore(index)
        if node.state is LoadState.LOADING:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            node.waiters.append(future)
            await future
        return node.state is LoadState.LOADED

    async def _load(self, node: Node, generation: int) -> None:
        assert node.point is not None
        point_id, path = node.point.id, node.path
        self.list_calls.append((point_id, path))
        loop = asyncio.get_running_loop()
        try:
            try:
                entries = await loop.run_in_executor(None, self._catalog.list_dir, point_id, path)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if generation != self._generation:
                    return
                log.info("Listing %s %s failed: %s", point_id, path, exc)
                node.state = LoadState.FAILED
                node.error = describe(exc).text
                self._node_changed(node)
                self.loadFailed.emit(self._index_of(node), exc)
                return
            if generation != self._generation:
                return  # the tree was rebuilt meanwhile: this node is gone
            children = self._children_for(node, entries)
            parent_index = self._index_of(node)
            node.entries = list(entries)
            if children:
                self.beginInsertRows(parent_index, 0, len(children) - 1)
                node.children = children
                node.state = LoadState.LOADED
                self.endInsertRows()
            else:
                node.state = LoadState.LOADED
            self._node_changed(node)
            self.loaded.emit(parent_index)
        finally:
            waiters, node.waiters = node.waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _children_for(self, node: Node, entries: list[FileEntry]) -> list[Node]:
        point = node.point
        assert point is not None
        out: list[Node] = []
        for entry in entries:
            if entry.type is not FileType.DIR:
                continue
            try:
                where = node.where.child(entry.name)
            except InvalidInput:
                continue  # not a diskN/volM name at the top levels: nothing the catalog can open
            if node.kind is NodeKind.POINT and where.disk is not None:
                disk = point.disks[where.disk] if where.disk < len(point.disks) else DiskInfo(entry.name,
                                                                                              entry.size, "")
                out.append(Node(NodeKind.DISK, node, len(out), disk, point, where))
            elif node.kind is NodeKind.DISK and where.volume is not None:
                known = {v.index: v for v in node.payload.volumes}
                volume = known.get(where.volume) or VolumeInfo(where.volume, "", "", entry.size, 0)
                out.append(Node(NodeKind.VOLUME, node, len(out), volume, point, where))
            elif node.kind in (NodeKind.VOLUME, NodeKind.DIR):
                out.append(Node(NodeKind.DIR, node, len(out), entry, point, where))
        return out

    def close(self) -> None:
        self._tasks.cancel_all()

    # -- access ------------------------------------------------------------------------------------
    def node(self, index: Index) -> Node | None:
        if not index.isValid():
            return None
        node = index.internalPointer()
        return node if isinstance(node, Node) else None

    def _index_of(self, node: Node, column: int = 0) -> QModelIndex:
        if node is self._root or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.row, column, node)

    def index_of(self, node: Node) -> QModelIndex:
        return self._index_of(node)

    def _node_changed(self, node: Node) -> None:
        if node.parent is None:
            return
        self.dataChanged.emit(self._index_of(node, 0), self._index_of(node, len(self.HEADERS) - 1))

    def vm_names(self) -> list[str]:
        return [vm.payload.name for vm in self._root.children]

    def point_index(self, point_id: str) -> QModelIndex:
        for vm in self._root.children:
            for node in vm.children:
                if node.payload.id == point_id:
                    return self._index_of(node)
        return QModelIndex()

    def child_named(self, parent: Index, name: str) -> QModelIndex:
        """The child of a listed node whose guest path ends in ``name`` (``disk0``, ``vol1``, a folder)."""
        node = self.node(parent)
        if node is None:
            return QModelIndex()
        for child in node.children:
            if child.where.name == name:
                return self._index_of(child)
        return QModelIndex()

    # -- Qt model API ------------------------------------------------------------------------------
    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        owner = self.node(parent) if parent.isValid() else self._root
        if owner is None or not (0 <= row < len(owner.children)) or not (0 <= column < len(self.HEADERS)):
            return QModelIndex()
        return self.createIndex(row, column, owner.children[row])

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        node = self.node(index)
        if node is None or node.parent is None or node.parent is self._root:
            return QModelIndex()
        return self._index_of(node.parent)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        owner = self.node(parent) if parent.isValid() else self._root
        return len(owner.children) if owner is not None else 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(self.HEADERS)

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return False
        owner = self.node(parent) if parent.isValid() else self._root
        if owner is None:
            return False
        if owner.state in (LoadState.LOADED, LoadState.FAILED):
            return bool(owner.children)
        return owner.expandable  # not listed yet: offer the expander

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
        if horizontal and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        node = self.node(index)
        if node is None:
            return None
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._display(node, column)
        if role == Qt.ItemDataRole.DecorationRole and column == self.COL_NAME:
            return self._damage_icon if node.damaged else self._icons[node.kind]
        if role == Qt.ItemDataRole.ForegroundRole and node.greyed:
            return QBrush(QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(node)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.COL_SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == self.SortRole:
            return self._sort_value(node, column)
        if role == self.RowRole:
            return node.payload
        if role == self.KindRole:
            return node.kind
        return None

    def _display(self, node: Node, column: int) -> str:
        kind, value = node.kind, node.payload
        if column == self.COL_NAME:
            if kind is NodeKind.VM:
                return str(value.name)
            if kind is NodeKind.POINT:
                return local_time(value.created)[:16]
            if kind is NodeKind.DISK:
                number = node.where.disk
                slot = f" ({value.controller_key})" if value.controller_key else ""
                return f"Disk {number}{slot}"
            if kind is NodeKind.VOLUME:
                label = f" — {value.label}" if value.label else ""
                return f"Volume {value.index}{label}"
            return str(value.name)
        if column == self.COL_STATUS:
            if node.state is LoadState.FAILED:
                return f"Cannot open: {node.error}"
            if node.state is LoadState.LOADING:
                return "Reading…"
            if kind is NodeKind.VM:
                count = len(value.points)
                return f"{count} restore point{'s' if count != 1 else ''}"
            if kind is NodeKind.POINT:
                return point_status_text(value)
            if kind is NodeKind.DISK:
                return f"Unreadable: {value.error}" if value.error else value.format
            if kind is NodeKind.VOLUME:
                fs = value.fs.upper() if value.fs else "file system not read yet"
                return fs if value.readable else f"{fs} — unreadable: {value.reason or 'unknown reason'}"
            return ""
        if column == self.COL_SIZE:
            if kind is NodeKind.POINT:
                return format_size(value.size)
            if kind is NodeKind.DISK:
                return format_size(value.capacity)
            if kind is NodeKind.VOLUME:
                return format_size(value.size)
        return ""

    def _tooltip(self, node: Node) -> str | None:
        reason = node.unavailable_reason
        if node.state is LoadState.FAILED:
            return node.error
        if reason:
            return f"Cannot be opened: {reason}"
        if node.kind is NodeKind.POINT:
            point: RestorePoint = node.payload
            text = f"{point.vm}, {local_time(point.created)} — {point_status_text(point)}\n{point.path}"
            return text
        if node.kind is NodeKind.DISK:
            return f"{node.payload.file} ({node.payload.format})"
        return None

    def _sort_value(self, node: Node, column: int) -> Any:
        value = node.payload
        if column == self.COL_NAME:
            if node.kind is NodeKind.POINT:
                return value.created
            if node.kind is NodeKind.VM:
                return value.name.casefold()
            return self._display(node, column).casefold()
        if column == self.COL_STATUS:
            return self._display(node, column)
        if column == self.COL_SIZE:
            if node.kind is NodeKind.POINT:
                return int(value.size)
            if node.kind is NodeKind.DISK:
                return int(value.capacity)
            if node.kind is NodeKind.VOLUME:
                return int(value.size)
            return 0
        return None
