"""The restore page's context menus (tree, search results) and the tree node as something to restore.

Right-click or the Menu key / Shift+F10 opens them; every entry is also a button or a shortcut on the page,
so the menus only gather what applies to the item under the cursor.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QMenu, QTreeView

from vmrestore.model import FileEntry, FileType

from .folder_model import BrowseItem
from .tree_model import NodeKind, PointsTreeModel


def node_items(model: PointsTreeModel, index: QModelIndex) -> list[BrowseItem]:
    """A folder, volume, disk or restore point of the tree as one item to restore; [] for a VM or a node that
    cannot be opened (compressed point, unreadable disk)."""
    node = model.node(index)
    if node is None or node.point is None or node.kind is NodeKind.VM or node.unavailable_reason:
        return []
    if node.kind is NodeKind.DIR:
        entry = node.payload
    else:
        label = model.data(index) or node.where.name or node.point.vm
        entry = FileEntry(str(node.where), str(label), FileType.DIR, 0, None)
    return [BrowseItem(node.point.id, node.where, entry)]


def node_vm(model: PointsTreeModel, index: QModelIndex) -> str | None:
    node = model.node(index)
    if node is None:
        return None
    if node.point is not None:
        return node.point.vm
    return getattr(node.payload, "name", None) if node.kind is NodeKind.VM else None


def tree_menu(page: Any, tree: QTreeView, model: PointsTreeModel) -> QMenu:
    menu = QMenu(page)
    menu.setObjectName("treeMenu")
    menu.setAccessibleName("Restore point actions")
    menu.addAction(page.restore_action)
    menu.addSeparator()
    index = tree.currentIndex()
    if index.isValid() and model.hasChildren(index):
        expanded = tree.isExpanded(index)
        toggle = menu.addAction("&Collapse" if expanded else "&Expand")
        toggle.triggered.connect(lambda: tree.setExpanded(index, not expanded))
    menu.addAction(page.search_here_action)
    if node_point(model, index) and getattr(page, "instant_action", None) is not None:
        menu.addAction(page.instant_action)
    menu.addAction(page.refresh_action)
    return menu


def node_point(model: PointsTreeModel, index: QModelIndex) -> str | None:
    """The restore point the tree's node belongs to (any node below a VM), for instant recovery."""
    node = model.node(index) if index.isValid() else None
    return node.point.id if node is not None and node.point is not None else None


def table_menu(page: Any) -> QMenu:
    menu = QMenu(page)
    menu.setObjectName("tableMenu")
    menu.setAccessibleName("File actions")
    menu.addAction(page.open_action)
    menu.addAction(page.versions_action)
    menu.addSeparator()
    menu.addAction(page.restore_action)
    menu.addAction(page.restore_vm_action)
    return menu


def search_menu(page: Any) -> QMenu:
    menu = QMenu(page)
    menu.setObjectName("searchMenu")
    menu.setAccessibleName("Search result actions")
    menu.addAction(page.show_folder_action)
    menu.addAction(page.versions_action)
    menu.addSeparator()
    menu.addAction(page.restore_action)
    menu.addAction(page.restore_vm_action)
    return menu
