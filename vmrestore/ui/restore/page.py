"""The Restore points page: browse every backup's guest files, search them, restore to this computer.

Left, the tree (VM → restore point → disk → volume → folders, listed lazily); right, the selected folder's
contents or the search results. Every catalog call runs in an executor from an asyncio task; the widget
only awaits. Nothing here deletes anything: restore points are read-only, and Delete says so.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from vmrestore.app.catalog_service import SearchHit
from vmrestore.model import Action, FileType, RestorePoint

from ..errors import describe, show_error
from ..formatting import local_time
from ..tasks import TaskSet, ask
from .folder_model import BrowseItem, FolderModel, SortProxy
from .ports import RestoreServices
from .restore_flow import FolderPicker, RestoreDialog, RestoreRequest, check_items, pick_folder_dialog, run_restore
from .search import SearchPanel, hit_folder, hit_item
from .tree_model import LoadState, Node, NodeKind, PointsTreeModel
from .versions import VersionsDialog

log = logging.getLogger(__name__)

TAB_CONTENTS, TAB_SEARCH = 0, 1


class RestorePointsPage(QWidget):
    restoreFinished = Signal(object)  # ExtractResult, or None when cancelled/failed
    indexFinished = Signal(object)  # the index job's handle, once it ended
    folderShown = Signal(str)  # the restore-point path whose contents the table now shows

    def __init__(self, services: RestoreServices, parent: QWidget | None = None, *,
                 pick_folder: FolderPicker | None = None, default_target: str | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._catalog = services.catalog
        self._tasks = TaskSet()
        self._pick_folder = pick_folder or pick_folder_dialog
        self._target = str(Path.home() / "Restored files") if default_target is None else default_target
        self._shown: Node | None = None
        self._repo_filter: str | None = None
        self.reloads = 0  # completed reloads (tests and scripts wait on it)
        self.setObjectName("restorePointsPage")
        self.setAccessibleName("Restore points")

        # -- toolbar ---------------------------------------------------------------------------------
        self.repo_combo = QComboBox(self)
        self.repo_combo.setObjectName("repositoryFilter")
        self.repo_combo.setAccessibleName("Repository")
        self.repo_combo.setMinimumContentsLength(18)
        self.repo_combo.addItem("All repositories", None)
        self.repo_combo.activated.connect(self._repo_chosen)
        repo_label = QLabel("Re&pository:", self)
        repo_label.setBuddy(self.repo_combo)
        self.refresh_button = QPushButton("R&efresh", self)
        self.refresh_button.setObjectName("refreshButton")
        self.refresh_button.setAccessibleName("Refresh the restore points")
        self.refresh_button.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))
        self.refresh_button.clicked.connect(self.refresh)
        self.index_button = QPushButton("&Index now", self)
        self.index_button.setObjectName("indexButton")
        self.index_button.setAccessibleName("Index now: find new restore points and their files")
        self.index_button.setToolTip("Find new restore points and index their files for search (see Jobs)")
        self.index_button.clicked.connect(lambda: self._tasks.spawn(self.index_now(), name="index-now"))
        self.versions_button = QPushButton("Versi&ons…", self)
        self.versions_button.setObjectName("versionsButton")
        self.versions_button.setAccessibleName("Versions of this file")
        self.versions_button.clicked.connect(self.show_versions)
        self.restore_button = QPushButton("&Restore to this computer…", self)
        self.restore_button.setObjectName("restoreButton")
        self.restore_button.setAccessibleName("Restore to this computer")
        self.restore_button.clicked.connect(self.restore_selected)
        toolbar = QHBoxLayout()
        toolbar.addWidget(repo_label)
        toolbar.addWidget(self.repo_combo)
        toolbar.addWidget(self.refresh_button)
        toolbar.addWidget(self.index_button)
        toolbar.addStretch(1)
        toolbar.addWidget(self.versions_button)
        toolbar.addWidget(self.restore_button)

        # -- tree ------------------------------------------------------------------------------------
        self.tree_model = PointsTreeModel(self._catalog, self)
        self.tree = QTreeView(self)
        self.tree.setObjectName("pointsTree")
        self.tree.setAccessibleName("Restore points by VM")
        self.tree.setAccessibleDescription("VM, restore point, disk, volume and folders; Enter opens a level")
        self.tree.setModel(self.tree_model)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setExpandsOnDoubleClick(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        # Deep folders must stay readable: the name column takes what its rows need (the tree scrolls
        # sideways if it must), the status column gets the rest.
        header.setSectionResizeMode(PointsTreeModel.COL_NAME, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PointsTreeModel.COL_STATUS, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(PointsTreeModel.COL_SIZE, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(60)
        self.tree.expanded.connect(self._expanded)
        self.tree.selectionModel().selectionChanged.connect(self._tree_selection_changed)
        self.tree_model.loaded.connect(self._node_loaded)
        self.tree_model.loadFailed.connect(self._node_failed)
        self.tree_model.reloaded.connect(self._tree_reloaded)
        self.tree.installEventFilter(self)

        # -- folder table ------------------------------------------------------------------------------
        self.folder_model = FolderModel(self)
        self.folder_proxy = SortProxy(FolderModel.SortRole, self)
        self.folder_proxy.setSourceModel(self.folder_model)
        self.table = QTableView(self)
        self.table.setObjectName("folderTable")
        self.table.setAccessibleName("Folder contents")
        self.table.setAccessibleDescription(
            "Enter opens a folder or shows the versions of a file; Backspace goes up; select several with Shift "
            "or Ctrl, then Restore to this computer")
        self.table.setModel(self.folder_proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(FolderModel.COL_NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        table_header = self.table.horizontalHeader()
        table_header.setSectionResizeMode(FolderModel.COL_NAME, QHeaderView.ResizeMode.Stretch)
        for column in (FolderModel.COL_SIZE, FolderModel.COL_MODIFIED, FolderModel.COL_TYPE):
            table_header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.activated.connect(self._table_activated)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._table_menu)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.table.installEventFilter(self)
        self.location = QLabel("Choose a restore point on the left.", self)
        self.location.setObjectName("locationLabel")
        self.location.setAccessibleName("Current location")
        self.location.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.location.setWordWrap(True)
        contents = QWidget(self)
        contents_layout = QVBoxLayout(contents)
        contents_layout.setContentsMargins(0, 4, 0, 0)
        contents_layout.addWidget(self.location)
        contents_layout.addWidget(self.table, 1)

        # -- search ------------------------------------------------------------------------------------
        self.search = SearchPanel(self._catalog, self)
        self.search.openRequested.connect(self.open_hit)
        self.search.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.search.table.installEventFilter(self)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("restoreTabs")
        self.tabs.setAccessibleName("Folder contents or search results")
        self.tabs.tabBar().setAccessibleName("Show folder contents or search")
        self.tabs.addTab(contents, "&Contents")
        self.tabs.addTab(self.search, "&Search")
        self.tabs.currentChanged.connect(lambda _i: self._update_actions())

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName("restoreSplitter")
        splitter.addWidget(self.tree)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([440, 520])

        self.status = QLabel("", self)
        self.status.setObjectName("restoreStatus")
        self.status.setAccessibleName("Restore points status")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)

        # -- keyboard --------------------------------------------------------------------------------
        self.find_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self)
        self.find_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.find_shortcut.activated.connect(self.focus_search)
        self.delete_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self)
        self.delete_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.delete_shortcut.activated.connect(self._delete_pressed)
        self.restore_action = QAction("&Restore to this computer…", self)
        self.restore_action.triggered.connect(self.restore_selected)
        self.versions_action = QAction("&Versions of this file…", self)
        self.versions_action.triggered.connect(self.show_versions)
        self.open_action = QAction("&Open", self)
        self.open_action.triggered.connect(lambda: self._table_activated(self.table.currentIndex()))
        self.show_folder_action = QAction("Show in &folder", self)
        self.show_folder_action.triggered.connect(self._open_selected_hit)

        self._update_actions()
        QTimer.singleShot(0, self, self.refresh)

    # -- loading ---------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self._tasks.spawn(self.reload(), name="restore-points-reload")

    async def reload(self) -> None:
        """Re-read repositories and restore points; the tree starts collapsed again."""
        self.status.setText("Reading restore points…")
        loop = asyncio.get_running_loop()
        try:
            repos = await loop.run_in_executor(None, self._catalog.repositories)
            await self.tree_model.reload(self._repo_filter)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.status.setText(f"Could not read the catalog: {describe(exc).text}")
            show_error(self, exc, context="Reading the restore-point catalog failed.")
            return
        self.repo_combo.clear()
        self.repo_combo.addItem("All repositories", None)
        for info in repos:
            self.repo_combo.addItem(f"{info.repo.name} ({info.points} restore points)", info.repo.name)
        self.repo_combo.setCurrentIndex(max(0, self.repo_combo.findData(self._repo_filter)))
        if not repos:
            self.status.setText("No backup repository yet: add one with “vmrestore repo add”, then Index now.")
        self.reloads += 1

    def _repo_chosen(self, _row: int) -> None:
        self._repo_filter = self.repo_combo.currentData()
        self.refresh()

    def _tree_reloaded(self) -> None:
        self._shown = None
        self.folder_model.clear()
        self.location.setText("Choose a restore point on the left.")
        names = self.tree_model.vm_names()
        self.search.set_vms(names)
        count = sum(self.tree_model.rowCount(self.tree_model.index(r, 0)) for r in range(len(names)))
        if names:
            self.status.setText(f"{len(names)} VM(s), {count} restore point(s). Expand a restore point to browse "
                                "its disks; Ctrl+F searches every indexed point.")
        else:
            self.status.setText("No restore points found yet: Index now looks for them in the repositories.")
        for row in range(len(names)):
            self.tree.expand(self.tree_model.index(row, 0))  # VMs open: their points are already read
        self._update_actions()

    async def index_now(self) -> Any:
        """Queue an index job for the chosen repository (or all) on the scheduler; the Jobs page shows it."""
        loop = asyncio.get_running_loop()
        try:
            self._services.require(Action.INDEX)
            infos = await loop.run_in_executor(None, self._catalog.repositories)
            repos = [i.repo for i in infos if self._repo_filter in (None, i.repo.name)]
            if not repos:
                self.status.setText("There is no repository to index: add one with “vmrestore repo add”.")
                return None
            job = self._catalog.index_job(repos)
            handle = self._services.scheduler.submit(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            show_error(self, exc, context="The index job could not be started.")
            return None
        self.status.setText(f"{job.title}: running; progress is on the Jobs page.")
        self.index_button.setEnabled(False)
        try:
            await handle.wait()
        finally:
            self.index_button.setEnabled(True)
        if handle.error is not None:
            self.status.setText(f"{job.title} failed: {describe(handle.error).text}")
        else:
            report = handle.result
            problems = f", {len(report.errors)} problem(s) (see Jobs)" if report and report.errors else ""
            found = (f"{report.points_added} new restore point(s), {report.files_indexed} files indexed"
                     if report else "")
            self.status.setText(f"{job.title}: done — {found}{problems}.")
            await self.reload()
        self.indexFinished.emit(handle)
        return handle

    # -- tree --------------------------------------------------------------------------------------------
    def _expanded(self, index: QModelIndex) -> None:
        if self.tree_model.canFetchMore(index):
            self.tree_model.fetchMore(index)

    def _tree_selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:
            self._show_node(indexes[0])

    def _show_node(self, index: QModelIndex) -> None:
        node = self.tree_model.node(index)
        self._shown = node
        if node is None:
            return
        if node.kind is NodeKind.VM:
            self.folder_model.clear()
            self.location.setText(f"<b>{node.payload.name}</b>: choose one of its restore points.")
            return
        reason = node.unavailable_reason
        if reason is not None:
            self.folder_model.clear()
            self.location.setText(f"<b>{self._crumbs(node)}</b><br>Cannot be opened: {reason}")
            return
        if node.state is LoadState.LOADED:
            self._fill_table(node)
        elif node.state is LoadState.FAILED:
            self.folder_model.clear()
            self.location.setText(f"<b>{self._crumbs(node)}</b><br>Cannot be opened: {node.error}")
        else:
            self.folder_model.clear()
            self.location.setText(f"<b>{self._crumbs(node)}</b><br>Reading…")
            self.tree_model.fetchMore(index)  # opening a folder lists it, as expanding does

    def _node_loaded(self, index: QModelIndex) -> None:
        if self.tree_model.node(index) is self._shown and self._shown is not None:
            self._fill_table(self._shown)

    def _node_failed(self, index: QModelIndex, error: object) -> None:
        node = self.tree_model.node(index)
        self.status.setText(f"{self._crumbs(node) if node else 'Listing'}: {node.error if node else error}")
        if node is self._shown and node is not None:
            self.folder_model.clear()
            self.location.setText(f"<b>{self._crumbs(node)}</b><br>Cannot be opened: {node.error}")

    def _fill_table(self, node: Node) -> None:
        assert node.point is not None
        if node.kind in (NodeKind.POINT, NodeKind.DISK):
            base = "" if node.kind is NodeKind.POINT else node.path
            items = [BrowseItem(node.point.id, f"{base}/{e.name}", e) for e in node.entries]
        else:
            prefix = node.volume_prefix
            items = [BrowseItem(node.point.id, prefix + e.path, e) for e in node.entries]
        self.folder_model.set_items(items, node.path)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(FolderModel.COL_NAME, QHeaderView.ResizeMode.Stretch)
        files = sum(1 for i in items if i.entry.type is not FileType.DIR)
        self.location.setText(f"<b>{self._crumbs(node)}</b><br>{len(items) - files} folder(s), {files} file(s)")
        self.folderShown.emit(node.path)
        self._update_actions()

    def _crumbs(self, node: Node) -> str:
        parts: list[str] = []
        current: Node | None = node
        while current is not None and current.parent is not None:
            parts.append(self.tree_model.data(self.tree_model.index_of(current)) or "")
            current = current.parent
        return " › ".join(reversed(parts))

    # -- table -----------------------------------------------------------------------------------------
    def selected_items(self) -> list[BrowseItem]:
        """What the operator selected on the visible tab (folder contents or search results)."""
        if self.tabs.currentIndex() == TAB_SEARCH:
            return [hit_item(hit) for hit in self.search.selected_hits()]
        rows = self.table.selectionModel().selectedRows()
        return [self.folder_proxy.mapToSource(index).data(FolderModel.RowRole) for index in rows]

    def _table_activated(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        item: BrowseItem = self.folder_proxy.mapToSource(index).data(FolderModel.RowRole)
        if item.is_dir:
            self.open_child(item.entry.name)
        else:
            self.show_versions()

    def open_child(self, name: str) -> None:
        """Open a sub-folder (or disk, volume) of what the table shows: expand it in the tree and select it."""
        if self._shown is None:
            return
        parent = self.tree_model.index_of(self._shown)
        child = self.tree_model.child_named(parent, name)
        if child.isValid():
            self.tree.expand(parent)
            self.tree.setCurrentIndex(child)
            self.tree.scrollTo(child)

    def go_up(self) -> None:
        if self._shown is not None and self._shown.parent is not None and self._shown.kind is not NodeKind.POINT:
            index = self.tree_model.index_of(self._shown.parent)
            self.tree.setCurrentIndex(index)

    def _table_menu(self, pos: Any) -> None:
        menu = QMenu(self)
        menu.setAccessibleName("File actions")
        menu.addAction(self.open_action)
        menu.addAction(self.versions_action)
        menu.addSeparator()
        menu.addAction(self.restore_action)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def _update_actions(self) -> None:
        items = self.selected_items()
        restorable = bool(items) and all(i.in_volume for i in items)
        one_file = len(items) == 1 and not items[0].is_dir and items[0].in_volume
        for widget in (self.restore_button, self.restore_action):
            widget.setEnabled(restorable)
        for widget in (self.versions_button, self.versions_action):
            widget.setEnabled(one_file)
        self.open_action.setEnabled(len(items) == 1)

    def eventFilter(self, watched: Any, event: Any) -> bool:
        if event.type() == event.Type.KeyPress:
            key = event.key()
            if watched is self.table and key == Qt.Key.Key_Backspace:
                self.go_up()
                return True
            if watched is self.tree and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                index = self.tree.currentIndex()
                if index.isValid():
                    self.tree.setExpanded(index, not self.tree.isExpanded(index))
                return True
        return super().eventFilter(watched, event)

    def focus_search(self) -> None:
        self.tabs.setCurrentIndex(TAB_SEARCH)
        self.search.focus_search()

    def _delete_pressed(self) -> None:
        self.status.setText("Nothing was deleted: restore points are read-only in vmrestore.")

    # -- search ----------------------------------------------------------------------------------------
    def _open_selected_hit(self) -> None:
        hits = self.search.selected_hits()
        if hits:
            self.open_hit(hits[0])

    def open_hit(self, hit: SearchHit) -> None:
        self._tasks.spawn(self.reveal(hit.point_id, hit_folder(hit), hit_item(hit).guest_path), name="reveal")

    async def reveal(self, point_id: str, folder: str, select: str | None = None) -> bool:
        """Open ``folder`` of ``point_id`` in the tree (listing each level as needed), select ``select``."""
        index = self.tree_model.point_index(point_id)
        if not index.isValid() and self._repo_filter is not None:
            self._repo_filter = None
            await self.reload()
            index = self.tree_model.point_index(point_id)
        if not index.isValid():
            self.status.setText(f"The restore point {point_id} is not in the list any more; try Refresh.")
            return False
        self.tree.expand(index.parent())
        for part in [p for p in folder.split("/") if p]:
            if not await self.tree_model.ensure_loaded(index):
                self.tree.setCurrentIndex(index)
                return False
            self.tree.expand(index)
            child = self.tree_model.child_named(index, part)
            if not child.isValid():
                self.status.setText(f"{folder} is not in this restore point.")
                return False
            index = child
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)
        await self.tree_model.ensure_loaded(index)
        self.tabs.setCurrentIndex(TAB_CONTENTS)
        if self._shown is not None and self._shown.state is LoadState.LOADED:
            self._fill_table(self._shown)
        if select is not None:
            row = self.folder_model.row_of(select)
            if row is not None:
                proxy_index = self.folder_proxy.mapFromSource(self.folder_model.index(row, 0))
                self.table.selectRow(proxy_index.row())
                self.table.scrollTo(proxy_index)
        self.table.setFocus(Qt.FocusReason.OtherFocusReason)
        return True

    # -- versions ----------------------------------------------------------------------------------------
    def show_versions(self) -> VersionsDialog | None:
        items = [i for i in self.selected_items() if not i.is_dir and i.in_volume]
        if len(items) != 1:
            self.status.setText("Select one file to see its versions.")
            return None
        item = items[0]
        vm = self._vm_of(item.point_id)
        dialog = VersionsDialog(self._catalog, item, vm, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        def restore_chosen(chosen: object) -> None:
            dialog.accept()
            self.restore_items([chosen])  # type: ignore[list-item]

        dialog.restoreRequested.connect(restore_chosen)
        dialog.open()
        dialog.start()
        return dialog

    def _vm_of(self, point_id: str) -> str:
        point = self._point(point_id)
        return point.vm if point is not None else point_id.split("/")[1] if point_id.count("/") >= 2 else ""

    def _point(self, point_id: str) -> RestorePoint | None:
        index = self.tree_model.point_index(point_id)
        value = self.tree_model.data(index, PointsTreeModel.RowRole) if index.isValid() else None
        return value if isinstance(value, RestorePoint) else None

    # -- restore ------------------------------------------------------------------------------------------
    def restore_selected(self) -> None:
        self.restore_items(self.selected_items())

    def restore_items(self, items: list[BrowseItem]) -> None:
        self._tasks.spawn(self.restore(items), name="restore")

    async def restore(self, items: list[BrowseItem]) -> Any:
        try:
            check_items(items)
            self._services.require(Action.EXTRACT)  # before asking anything: a refusal is said at once
        except Exception as exc:
            show_error(self, exc, context="Nothing was restored.")
            self.restoreFinished.emit(None)
            return None
        point = self._point(items[0].point_id)
        when = f"{point.vm}, restore point {local_time(point.created)[:16]}" if point else items[0].point_id
        dialog = RestoreDialog(items, f"{when} ({items[0].volume_key})", self._target, self._pick_folder, self)
        if await ask(dialog) != RestoreDialog.DialogCode.Accepted.value:
            dialog.deleteLater()
            self.restoreFinished.emit(None)
            return None
        target, conflict = dialog.target_edit.text().strip(), dialog.conflict
        dialog.deleteLater()
        self._target = target
        request = RestoreRequest(items[0].point_id, [i.guest_path for i in items], target, conflict)
        result = await run_restore(self, self._services, request)
        if result is not None:
            self.status.setText(f"Restored {result.files} file(s) to {target}.")
        self.restoreFinished.emit(result)
        return result

    # -- closing -----------------------------------------------------------------------------------------
    def close_page(self) -> None:
        self._tasks.cancel_all()
        self.tree_model.close()
        self.search.close_tasks()
