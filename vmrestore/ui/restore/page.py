"""The Restore points page: browse every backup's guest files, search them, restore to this computer.

Left, the tree (VM → restore point → disk → volume → folders, listed lazily); right, the selected folder's
contents or the search results. The page composes parts that each have one job: ``widgets`` builds the
views, ``navigation`` keeps tree and table in step, ``search`` finds files, ``versions`` compares a file
across points, ``indexing`` and ``restore_flow`` ask and show while the app's restore use case does the
work as jobs. Nothing here deletes anything: restore points are read-only, and Delete says so.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QSplitter, QTabWidget, QVBoxLayout, QWidget

from vmrestore.app.catalog_service import SearchHit
from vmrestore.app.restore import ExtractRequest
from vmrestore.model import GuestPath, RestorePoint
from vmrestore.ui.sorting import SortProxy

from ..errors import describe, show_error
from ..formatting import local_time
from ..tasks import TaskSet, ask
from . import context, widgets
from .folder_model import BrowseItem, FolderModel
from .indexing import index_now
from .navigation import Navigator
from .ports import RestoreServices
from .restore_flow import FolderPicker, RestoreDialog, check_items, pick_folder_dialog, run_restore
from .search import SearchPanel, hit_folder, hit_item, hit_path
from .tree_model import PointsTreeModel
from .versions import VersionsDialog

log = logging.getLogger(__name__)

TAB_CONTENTS, TAB_SEARCH = 0, 1


class RestorePointsPage(QWidget):
    restoreFinished = Signal(object)  # ExtractResult, or None when cancelled/failed
    indexFinished = Signal(object)  # the index job's handle, once it ended
    folderShown = Signal(str)  # the restore-point path whose contents the table now shows
    addRepositoryRequested = Signal()  # "Add a repository…": the window opens Settings › Repositories
    instantRecoveryRequested = Signal(str)  # "Instant recovery…" on a point: the window opens the wizard for it

    def __init__(self, services: RestoreServices, parent: QWidget | None = None, *,
                 pick_folder: FolderPicker | None = None, default_target: str | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._catalog = services.catalog
        self._tasks = TaskSet()
        self._pick_folder = pick_folder or pick_folder_dialog
        self._target = str(Path.home() / "Restored files") if default_target is None else default_target
        self._repo_filter: str | None = None
        self.reloads = 0  # completed reloads (tests and scripts wait on it)
        self.setObjectName("restorePointsPage")
        self.setAccessibleName("Restore points")

        toolbar = widgets.Toolbar(self)
        self.repo_combo = toolbar.repo_combo
        self.refresh_button = toolbar.refresh_button
        self.index_button = toolbar.index_button
        self.versions_button = toolbar.versions_button
        self.restore_button = toolbar.restore_button
        self.add_repo_button = toolbar.add_repo_button
        self.add_repo_button.clicked.connect(self.addRepositoryRequested)
        self._last_view: QWidget | None = None  # tree, folder table or search results: what Restore takes
        self.repo_combo.activated.connect(self._repo_chosen)
        self.refresh_button.clicked.connect(self.refresh)
        self.index_button.clicked.connect(lambda: self._tasks.spawn(self.index_now(), name="index-now"))
        self.versions_button.clicked.connect(self.show_versions)
        self.restore_button.clicked.connect(self.restore_selected)

        self.tree_model = PointsTreeModel(self._catalog, self)
        self.tree = widgets.points_tree(self.tree_model, self)
        self.tree_model.reloaded.connect(self._tree_reloaded)
        self.tree.installEventFilter(self)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._tree_menu)
        self.tree.selectionModel().currentChanged.connect(lambda *_: self._update_actions())

        self.folder_model = FolderModel(self)
        self.folder_proxy = SortProxy(FolderModel.SortRole, self)
        self.folder_proxy.setSourceModel(self.folder_model)
        self.table = widgets.folder_table(self.folder_proxy, self)
        self.table.activated.connect(self._table_activated)
        self.table.customContextMenuRequested.connect(self._table_menu)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.table.installEventFilter(self)
        self.location = widgets.location_label(self)
        contents = QWidget(self)
        contents_layout = QVBoxLayout(contents)
        contents_layout.setContentsMargins(0, 4, 0, 0)
        contents_layout.addWidget(self.location)
        contents_layout.addWidget(self.table, 1)

        self.search = SearchPanel(self._catalog, self)
        self.search.openRequested.connect(self.open_hit)
        self.search.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.search.table.installEventFilter(self)
        self.search.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.search.table.customContextMenuRequested.connect(self._search_menu)

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
        splitter.setStretchFactor(0, 1)  # the tree's names, statuses and sizes need as much room as the table
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([500, 460])

        self.status = QLabel("", self)
        self.status.setObjectName("restoreStatus")
        self.status.setAccessibleName("Restore points status")
        self.status.setWordWrap(True)

        self.navigator = Navigator(self.tree, self.tree_model, self.table, self.folder_model, self.folder_proxy,
                                   self.location, self.status.setText, self)
        self.navigator.folderShown.connect(self.folderShown)
        self.navigator.contentsChanged.connect(self._update_actions)

        layout = QVBoxLayout(self)
        layout.addLayout(toolbar.layout)
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
        self.restore_vm_action = QAction("Restore into &VM…", self)
        self.restore_vm_action.setShortcut(QKeySequence("Ctrl+Shift+R"))
        self.restore_vm_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.restore_vm_action.triggered.connect(self.restore_into_vm)
        self.addAction(self.restore_vm_action)
        self.versions_action = QAction("V&ersions of this file…", self)  # Alt+V: "Restore into VM…"
        self.versions_action.triggered.connect(self.show_versions)
        self.open_action = QAction("&Open", self)
        self.open_action.triggered.connect(lambda: self._table_activated(self.table.currentIndex()))
        self.show_folder_action = QAction("Show in &folder", self)
        self.show_folder_action.triggered.connect(self._open_selected_hit)
        self.search_here_action = QAction("&Search in this VM…", self)
        self.search_here_action.triggered.connect(self.search_in_vm)
        self.refresh_action = QAction("Re&fresh", self)
        self.refresh_action.triggered.connect(self.refresh)
        self.instant_action = QAction("&Instant recovery…", self)
        self.instant_action.setToolTip("Run this restore point's VM straight from the backup (admin)")
        self.instant_action.triggered.connect(self._request_instant)

        self._update_actions()
        QTimer.singleShot(0, self, self.refresh)

    def _request_instant(self) -> None:
        point = context.node_point(self.tree_model, self.tree.currentIndex())
        if point:
            self.instantRecoveryRequested.emit(point)

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
        self.add_repo_button.setVisible(not repos)
        if not repos:
            self.status.setText("No backup repository yet: “Add a repository…” (or Tools › Settings › Repositories), "
                                "then Index now.")
        self.reloads += 1

    def _repo_chosen(self, _row: int) -> None:
        self._repo_filter = self.repo_combo.currentData()
        self.refresh()

    def _tree_reloaded(self) -> None:
        self.navigator.clear()
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
        """Queue an index job for the chosen repository (or all); the Jobs page shows it."""
        handle = await index_now(self, self._services, self._repo_filter, self.status, self.index_button,
                                 self.reload)
        if handle is not None:
            self.indexFinished.emit(handle)
        return handle

    # -- table -----------------------------------------------------------------------------------------
    def selected_items(self) -> list[BrowseItem]:
        """What the operator selected: the tree's folder, volume or disk when the tree was used last, else the
        rows of the visible tab (folder contents or search results)."""
        if self._last_view is self.tree:
            return self.tree_items()
        if self.tabs.currentIndex() == TAB_SEARCH:
            return [hit_item(hit) for hit in self.search.selected_hits()]
        rows = self.table.selectionModel().selectedRows()
        return [self.folder_proxy.mapToSource(index).data(FolderModel.RowRole) for index in rows]

    def tree_items(self) -> list[BrowseItem]:
        """The tree's current node as one thing to restore: a folder, a volume, a disk or the whole point."""
        return context.node_items(self.tree_model, self.tree.currentIndex())

    def restore_from_tree(self) -> None:
        self._last_view = self.tree
        self.restore_selected()

    def _tree_menu(self, pos: Any) -> None:
        self._last_view = self.tree
        self._update_actions()
        context.tree_menu(self, self.tree, self.tree_model).popup(self.tree.viewport().mapToGlobal(pos))

    def _search_menu(self, pos: Any) -> None:
        self._last_view = self.search.table
        self._update_actions()
        menu = context.search_menu(self)
        menu.popup(self.search.table.viewport().mapToGlobal(pos))

    def search_in_vm(self) -> None:
        """Search restricted to the VM of the tree's current node."""
        vm = context.node_vm(self.tree_model, self.tree.currentIndex())
        self.focus_search()
        row = self.search.vm_combo.findData(vm) if vm is not None else -1
        if row >= 0:
            self.search.vm_combo.setCurrentIndex(row)

    def _table_activated(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        item: BrowseItem = self.folder_proxy.mapToSource(index).data(FolderModel.RowRole)
        if item.is_dir:
            self.open_child(item.entry.name)
        else:
            self.show_versions()

    def open_child(self, name: str) -> None:
        self.navigator.open_child(name)

    def go_up(self) -> None:
        self.navigator.go_up()

    def _table_menu(self, pos: Any) -> None:
        self._last_view = self.table
        self._update_actions()
        context.table_menu(self).popup(self.table.viewport().mapToGlobal(pos))

    def _update_actions(self) -> None:
        items = self.selected_items()
        restorable = bool(items) and (all(i.in_volume for i in items) or len(items) == 1)
        one_file = len(items) == 1 and not items[0].is_dir and items[0].in_volume
        for widget in (self.restore_button, self.restore_action):
            widget.setEnabled(restorable)
        self.restore_vm_action.setEnabled(bool(items) and all(i.in_volume for i in items)
                                          and len({i.point_id for i in items}) == 1)
        for widget in (self.versions_button, self.versions_action):
            widget.setEnabled(one_file)
        self.open_action.setEnabled(len(items) == 1)

    def eventFilter(self, watched: Any, event: Any) -> bool:
        if event.type() == event.Type.FocusIn and watched in (self.tree, self.table, self.search.table):
            self._last_view = watched
            self._update_actions()
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
        self._tasks.spawn(self.reveal(hit.point_id, hit_folder(hit), hit_path(hit)), name="reveal")

    async def reveal(self, point_id: str, folder: GuestPath | str, select: GuestPath | str | None = None) -> bool:
        """Open ``folder`` of ``point_id`` in the tree (listing each level as needed), select ``select``."""
        index = self.tree_model.point_index(point_id)
        if not index.isValid() and self._repo_filter is not None:
            self._repo_filter = None
            await self.reload()
            index = self.tree_model.point_index(point_id)
        if not index.isValid():
            self.status.setText(f"The restore point {point_id} is not in the list any more; try Refresh.")
            return False
        where = GuestPath.parse(folder) if isinstance(folder, str) else folder
        chosen = GuestPath.parse(select) if isinstance(select, str) else select
        self.tabs.setCurrentIndex(TAB_CONTENTS)
        return await self.navigator.reveal(index, where, chosen)

    # -- versions ----------------------------------------------------------------------------------------
    def show_versions(self) -> VersionsDialog | None:
        items = [i for i in self.selected_items() if not i.is_dir and i.in_volume]
        if len(items) != 1:
            self.status.setText("Select one file to see its versions.")
            return None
        item = items[0]
        point = self._point(item.point_id)
        dialog = VersionsDialog(self._catalog, item, point.vm if point is not None else item.point_id, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def restore_chosen(chosen: object) -> None:
            dialog.accept()
            self.restore_items([chosen])  # type: ignore[list-item]

        dialog.restoreRequested.connect(restore_chosen)
        dialog.open()
        dialog.start()
        return dialog

    def _point(self, point_id: str) -> RestorePoint | None:
        index = self.tree_model.point_index(point_id)
        value = self.tree_model.data(index, PointsTreeModel.RowRole) if index.isValid() else None
        return value if isinstance(value, RestorePoint) else None

    # -- restore ------------------------------------------------------------------------------------------
    def restore_into_vm(self) -> None:
        """“Restore into VM…” for the selected files (one restore point, one volume)."""
        items = self.selected_items()
        if not items or not self.restore_vm_action.isEnabled():
            return
        self._tasks.spawn(self._open_restore_vm(items), name="restore-into-vm")

    async def _open_restore_vm(self, items: list[BrowseItem]) -> None:
        from vmrestore.ui.restore_vm.wizard import RestoreIntoVmWizard

        point = await asyncio.get_running_loop().run_in_executor(None, self._catalog.point, items[0].point_id)
        self.restore_vm_wizard = RestoreIntoVmWizard(self._services, point, [i.guest_path for i in items], self)
        self.restore_vm_wizard.open()

    def restore_selected(self) -> None:
        self.restore_items(self.selected_items())

    def restore_items(self, items: list[BrowseItem]) -> None:
        self._tasks.spawn(self.restore(items), name="restore")

    async def restore(self, items: list[BrowseItem]) -> Any:
        try:
            check_items(items)
            self._services.restore.check_extract()  # before asking anything: a refusal is said at once
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
        request = ExtractRequest(items[0].point_id, tuple(i.guest_path for i in items), target, conflict)
        result = await run_restore(self, self._services.restore, request)
        if result is not None:
            self.status.setText(f"Restored {result.files} file(s) to {target}.")
        self.restoreFinished.emit(result)
        return result

    # -- closing -----------------------------------------------------------------------------------------
    def close_page(self) -> None:
        """Stop everything the page started (listings, searches, a restore being followed)."""
        self._tasks.cancel_all()
        self.tree_model.close()
        self.search.close_tasks()

    def closeEvent(self, event: QCloseEvent) -> None:
        # The main window closes its pages when it closes (QWidget.close on a child sends this event).
        self.close_page()
        super().closeEvent(event)
