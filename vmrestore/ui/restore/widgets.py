"""The restore page's views, built and configured in one place: the toolbar, the tree and the folder table.

Only construction and look live here (names for screen readers, resize modes, sorting); what the views
do when the operator acts is wired by the page and the navigator.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QTreeView,
    QWidget,
)

from vmrestore.ui.sorting import SortProxy

from .folder_model import FolderModel
from .tree_model import PointsTreeModel


class Toolbar:
    """Repository filter, Refresh, Index now on the left; Versions and Restore on the right."""

    def __init__(self, parent: QWidget) -> None:
        self.repo_combo = QComboBox(parent)
        self.repo_combo.setObjectName("repositoryFilter")
        self.repo_combo.setAccessibleName("Repository")
        self.repo_combo.setMinimumContentsLength(10)  # the window must fit 1024 px with "Add a repository…" shown
        self.repo_combo.addItem("All repositories", None)
        repo_label = QLabel("Re&pository:", parent)
        repo_label.setBuddy(self.repo_combo)
        self.refresh_button = QPushButton("R&efresh", parent)
        self.refresh_button.setObjectName("refreshButton")
        self.refresh_button.setAccessibleName("Refresh the restore points")
        self.refresh_button.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))
        self.index_button = QPushButton("&Index now", parent)
        self.index_button.setObjectName("indexButton")
        self.index_button.setAccessibleName("Index now: find new restore points and their files")
        self.index_button.setToolTip("Find new restore points and index their files for search (see Jobs)")
        self.add_repo_button = QPushButton("A&dd a repository…", parent)
        self.add_repo_button.setObjectName("addRepositoryButton")
        self.add_repo_button.setAccessibleName("Add a backup repository (Settings, Repositories)")
        self.add_repo_button.setVisible(False)  # shown while no repository is registered
        self.versions_button = QPushButton("Versi&ons…", parent)
        self.versions_button.setObjectName("versionsButton")
        self.versions_button.setAccessibleName("Versions of this file")
        self.restore_button = QPushButton("&Restore to this computer…", parent)
        self.restore_button.setObjectName("restoreButton")
        self.restore_button.setAccessibleName("Restore to this computer")
        self.layout = QHBoxLayout()
        for widget in (repo_label, self.repo_combo, self.refresh_button, self.index_button, self.add_repo_button):
            self.layout.addWidget(widget)
        self.layout.addStretch(1)
        self.layout.addWidget(self.versions_button)
        self.layout.addWidget(self.restore_button)


def points_tree(model: PointsTreeModel, parent: QWidget) -> QTreeView:
    tree = QTreeView(parent)
    tree.setObjectName("pointsTree")
    tree.setAccessibleName("Restore points by VM")
    tree.setAccessibleDescription("VM, restore point, disk, volume and folders; Enter opens a level")
    tree.setModel(model)
    tree.setUniformRowHeights(True)
    tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    tree.setExpandsOnDoubleClick(True)
    header = tree.header()
    header.setStretchLastSection(True)
    # Deep folders must stay readable: the name column takes what its rows need (the tree scrolls
    # sideways if it must), the size is short, and the status (last: a damaged point's reason is long)
    # gets the rest, at least enough for "Damaged" and "Completed with warnings" to start readably.
    header.setSectionResizeMode(PointsTreeModel.COL_NAME, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(PointsTreeModel.COL_SIZE, QHeaderView.ResizeMode.ResizeToContents)
    header.setMinimumSectionSize(60)
    return tree


def folder_table(proxy: SortProxy, parent: QWidget) -> QTableView:
    table = QTableView(parent)
    table.setObjectName("folderTable")
    table.setAccessibleName("Folder contents")
    table.setAccessibleDescription(
        "Enter opens a folder or shows the versions of a file; Backspace goes up; select several with Shift "
        "or Ctrl, then Restore to this computer")
    table.setModel(proxy)
    table.setSortingEnabled(True)
    table.sortByColumn(FolderModel.COL_NAME, Qt.SortOrder.AscendingOrder)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    header = table.horizontalHeader()
    header.setSectionResizeMode(FolderModel.COL_NAME, QHeaderView.ResizeMode.Stretch)
    for column in (FolderModel.COL_SIZE, FolderModel.COL_MODIFIED, FolderModel.COL_TYPE):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    return table


def location_label(parent: QWidget) -> QLabel:
    label = QLabel("Choose a restore point on the left.", parent)
    label.setObjectName("locationLabel")
    label.setAccessibleName("Current location")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label
