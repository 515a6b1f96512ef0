"""Moving through a restore point: the tree on the left and the folder table on the right stay in step.

Selecting a tree node shows its contents in the table (listing it first if nobody did); opening a folder
in the table selects it in the tree; Backspace goes up; ``reveal`` opens a path level by level (a search
hit's folder). Every listing is the tree model's asynchronous one: the Qt thread never waits on a disk.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QItemSelection, QModelIndex, QObject, Qt, Signal
from PySide6.QtWidgets import QHeaderView, QLabel, QTableView, QTreeView

from vmrestore.model import FileType, GuestPath
from vmrestore.ui.sorting import SortProxy

from .folder_model import BrowseItem, FolderModel
from .tree_model import LoadState, Node, NodeKind, PointsTreeModel


class Navigator(QObject):
    folderShown = Signal(str)  # the restore-point path whose contents the table now shows
    contentsChanged = Signal()  # the table's rows changed (actions may need enabling)

    def __init__(self, tree: QTreeView, tree_model: PointsTreeModel, table: QTableView, folder_model: FolderModel,
                 folder_proxy: SortProxy, location: QLabel, say: Callable[[str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tree = tree
        self.tree_model = tree_model
        self.table = table
        self.folder_model = folder_model
        self.folder_proxy = folder_proxy
        self.location = location
        self._say = say
        self.shown: Node | None = None
        tree.expanded.connect(self._expanded)
        tree.selectionModel().selectionChanged.connect(self._tree_selection_changed)
        tree_model.loaded.connect(self._node_loaded)
        tree_model.loadFailed.connect(self._node_failed)

    def clear(self) -> None:
        self.shown = None
        self.folder_model.clear()
        self.location.setText("Choose a restore point on the left.")

    # -- tree ------------------------------------------------------------------------------------------
    def _expanded(self, index: QModelIndex) -> None:
        if self.tree_model.canFetchMore(index):
            self.tree_model.fetchMore(index)

    def _tree_selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:
            self.show_node(indexes[0])

    def show_node(self, index: QModelIndex) -> None:
        node = self.tree_model.node(index)
        self.shown = node
        if node is None:
            return
        if node.kind is NodeKind.VM:
            self.folder_model.clear()
            self.location.setText(f"<b>{node.payload.name}</b>: choose one of its restore points.")
            return
        reason = node.unavailable_reason
        if reason is not None:
            self.folder_model.clear()
            self.location.setText(f"<b>{self.crumbs(node)}</b><br>Cannot be opened: {reason}")
            return
        if node.state is LoadState.LOADED:
            self.fill_table(node)
        elif node.state is LoadState.FAILED:
            self.folder_model.clear()
            self.location.setText(f"<b>{self.crumbs(node)}</b><br>Cannot be opened: {node.error}")
        else:
            self.folder_model.clear()
            self.location.setText(f"<b>{self.crumbs(node)}</b><br>Reading…")
            self.tree_model.fetchMore(index)  # opening a folder lists it, as expanding does

    def _node_loaded(self, index: QModelIndex) -> None:
        if self.tree_model.node(index) is self.shown and self.shown is not None:
            self.fill_table(self.shown)

    def _node_failed(self, index: QModelIndex, error: object) -> None:
        node = self.tree_model.node(index)
        self._say(f"{self.crumbs(node) if node else 'Listing'}: {node.error if node else error}")
        if node is self.shown and node is not None:
            self.folder_model.clear()
            self.location.setText(f"<b>{self.crumbs(node)}</b><br>Cannot be opened: {node.error}")

    def fill_table(self, node: Node) -> None:
        assert node.point is not None
        items = [BrowseItem(node.point.id, node.where.child(e.name), e) for e in node.entries]
        self.folder_model.set_items(items, node.path)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(FolderModel.COL_NAME, QHeaderView.ResizeMode.Stretch)
        files = sum(1 for i in items if i.entry.type is not FileType.DIR)
        self.location.setText(f"<b>{self.crumbs(node)}</b><br>{len(items) - files} folder(s), {files} file(s)")
        self.folderShown.emit(node.path)
        self.contentsChanged.emit()

    def crumbs(self, node: Node) -> str:
        parts: list[str] = []
        current: Node | None = node
        while current is not None and current.parent is not None:
            parts.append(self.tree_model.data(self.tree_model.index_of(current)) or "")
            current = current.parent
        return " › ".join(reversed(parts))

    # -- moving ----------------------------------------------------------------------------------------
    def open_child(self, name: str) -> None:
        """Open a sub-folder (or disk, volume) of what the table shows: expand it in the tree and select it."""
        if self.shown is None:
            return
        parent = self.tree_model.index_of(self.shown)
        child = self.tree_model.child_named(parent, name)
        if child.isValid():
            self.tree.expand(parent)
            self.tree.setCurrentIndex(child)
            self.tree.scrollTo(child)

    def go_up(self) -> None:
        if self.shown is not None and self.shown.parent is not None and self.shown.kind is not NodeKind.POINT:
            self.tree.setCurrentIndex(self.tree_model.index_of(self.shown.parent))

    async def reveal(self, point_index: QModelIndex, folder: GuestPath, select: GuestPath | None = None) -> bool:
        """Open ``folder`` below the point at ``point_index`` (listing each level as needed), select ``select``."""
        index = point_index
        self.tree.expand(index.parent())
        steps: list[str] = []
        where = folder
        while where != GuestPath():
            steps.append(where.name)
            where = where.parent
        for part in reversed(steps):
            if not await self.tree_model.ensure_loaded(index):
                self.tree.setCurrentIndex(index)
                return False
            self.tree.expand(index)
            child = self.tree_model.child_named(index, part)
            if not child.isValid():
                self._say(f"{folder} is not in this restore point.")
                return False
            index = child
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)
        await self.tree_model.ensure_loaded(index)
        if self.shown is not None and self.shown.state is LoadState.LOADED:
            self.fill_table(self.shown)
        if select is not None:
            row = self.folder_model.row_of(str(select))
            if row is not None:
                proxy_index = self.folder_proxy.mapFromSource(self.folder_model.index(row, 0))
                self.table.selectRow(proxy_index.row())
                self.table.scrollTo(proxy_index)
        self.table.setFocus(Qt.FocusReason.OtherFocusReason)
        return True
