"""Browsing: the lazily loaded tree and the folder table, over a real indexed ghettoVCB repository."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QAbstractButton, QScrollBar, QStyle, QWidget

from tests.bench.diskfactory import DiskSpec, PartitionSpec, PointSpec, expected_tree
from tests.ui.conftest import until
from tests.ui.restore.conftest import ListSpy, open_page
from vmrestore.model import FileType, RestorePoint
from vmrestore.ui.restore.folder_model import FolderModel
from vmrestore.ui.restore.tree_model import LoadState, NodeKind, PointsTreeModel

pytestmark = pytest.mark.asyncio

# ext4 creates lost+found itself; every other entry must be exactly what the bench wrote.
MKFS_EXTRAS = {"/lost+found"}


async def load_subtree(model: PointsTreeModel, index: QModelIndex) -> None:
    assert await model.ensure_loaded(index)
    for row in range(model.rowCount(index)):
        await load_subtree(model, model.index(row, 0, index))


def volume_paths(model: PointsTreeModel, index: QModelIndex) -> dict[str, Any]:
    """Every path under a loaded volume node, as the tree's listings show it: path -> FileEntry."""
    node = model.node(index)
    assert node is not None and node.state is LoadState.LOADED
    out = {entry.path: entry for entry in node.entries}
    for row in range(model.rowCount(index)):
        out.update(volume_paths(model, model.index(row, 0, index)))
    return out


def point_ids(model: PointsTreeModel, vm_row: int) -> list[str]:
    vm = model.index(vm_row, 0)
    return [model.index(r, 0, vm).data(PointsTreeModel.RowRole).id for r in range(model.rowCount(vm))]


async def test_tree_shows_exactly_the_bench_files_at_every_level(qtbot, qtmodeltester, backup_repo,
                                                                  make_services) -> None:
    services = make_services(backup_repo.root)
    page = await open_page(qtbot, services)
    model = page.tree_model
    qtmodeltester.check(model)  # stays attached: every later insert is checked too

    assert [model.index(r, 0).data() for r in range(model.rowCount())] == ["db01", "web01"]
    for vm_row, vm in enumerate(("db01", "web01")):
        built = backup_repo.points[vm]
        assert point_ids(model, vm_row) == [page._catalog.points(vm)[i].id for i in range(len(built))]
        # newest first, with the bench's dates and statuses
        shown = [model.index(r, 0, model.index(vm_row, 0)).data(PointsTreeModel.RowRole)
                 for r in range(len(built))]
        assert [p.created for p in shown] == [b.created for b in reversed(built)]
        assert [p.status for p in shown] == [b.status for b in reversed(built)]

    for vm_row, vm in enumerate(("db01", "web01")):
        for point_row, built in enumerate(reversed(backup_repo.points[vm])):
            point_index = model.index(point_row, 0, model.index(vm_row, 0))
            await load_subtree(model, point_index)
            assert model.rowCount(point_index) == len(built.spec.disks)
            for disk_row, disk_spec in enumerate(built.spec.disks):
                disk_index = model.index(disk_row, 0, point_index)
                assert model.data(disk_index, PointsTreeModel.KindRole) is NodeKind.DISK
                assert model.rowCount(disk_index) == len(disk_spec.partitions)
                for vol_row, part in enumerate(disk_spec.partitions):
                    vol_index = model.index(vol_row, 0, disk_index)
                    volume = vol_index.data(PointsTreeModel.RowRole)
                    assert (volume.fs, volume.label, volume.readable) == (part.fs, part.label, True)
                    assert part.label in vol_index.data()
                    assert part.fs.upper() in model.index(vol_row, PointsTreeModel.COL_STATUS, disk_index).data()
                    got = volume_paths(model, vol_index)
                    want = expected_tree(part)
                    assert set(got) - MKFS_EXTRAS == set(want), (vm, built.folder.name, part.label)
                    for path, value in want.items():
                        entry = got[path]
                        if value is None:
                            assert entry.type is FileType.DIR, path
                        else:
                            assert (entry.type, entry.size) == (FileType.FILE, len(value)), path
    qtmodeltester.check(model)  # the fully loaded tree, once more from the top


async def test_listing_happens_only_when_a_level_is_opened(qtbot, backup_repo, make_services) -> None:
    services = make_services(backup_repo.root)
    spy = ListSpy(services.catalog.list_dir)
    services.catalog.list_dir = spy  # type: ignore[method-assign]
    page = await open_page(qtbot, services)
    model, tree = page.tree_model, page.tree
    web01 = model.index(1, 0)
    newest, older = model.index(0, 0, web01), model.index(1, 0, web01)
    await until(lambda: tree.isExpanded(web01), what="VMs shown open")
    await asyncio.sleep(0.2)  # let any (wrongly) scheduled listing run
    assert spy.calls == []  # the points are on screen, nothing below them was read
    assert model.hasChildren(newest) and model.canFetchMore(newest) and model.rowCount(newest) == 0

    tree.expand(newest)
    pid = newest.data(PointsTreeModel.RowRole).id
    await until(lambda: model.rowCount(newest) == 1, what="disks of the newest point")
    assert spy.calls == [(pid, "/")]
    assert not model.canFetchMore(newest)
    assert model.canFetchMore(older)  # its sibling stays unread

    disk = model.index(0, 0, newest)
    tree.expand(disk)
    await until(lambda: model.rowCount(disk) == 2, what="volumes")
    vol1 = model.index(0, 0, disk)
    assert model.hasChildren(vol1) and model.rowCount(vol1) == 0  # an unexpanded volume offers the expander
    tree.expand(vol1)
    await until(lambda: model.rowCount(vol1) == 3, what="root folders of vol1")
    users = model.child_named(vol1, "Users")
    assert model.hasChildren(users) and model.canFetchMore(users)
    assert spy.calls == [(pid, "/"), (pid, "/disk0"), (pid, "/disk0/vol1")]
    tree.collapse(vol1)
    tree.expand(vol1)  # expanding again reads nothing again
    await until(lambda: tree.isExpanded(vol1))
    assert len(spy.calls) == 3


async def test_folder_table_sorts_sizes_as_integers(qtbot, make_repo, make_services) -> None:
    files = {"share/a.bin": b"x" * 9, "share/b.bin": b"x" * 10, "share/c.bin": b"x" * 100,
             "share/d.bin": b"x" * 2000, "share/sub": None}
    spec = PointSpec(datetime(2024, 6, 1, 20, 0, 0, tzinfo=UTC),
                     [DiskSpec("mbr", [PartitionSpec("ext4", 4, "share", files)])])
    repo = make_repo({"fs01": [spec]})
    services = make_services(repo.root)
    page = await open_page(qtbot, services)
    point = repo.points["fs01"][0]
    pid = services.catalog.points("fs01")[0].id
    assert await page.reveal(pid, "/disk0/vol1/share")
    proxy, table = page.folder_proxy, page.table

    def names() -> list[str]:
        return [proxy.index(r, FolderModel.COL_NAME).data() for r in range(proxy.rowCount())]

    table.sortByColumn(FolderModel.COL_SIZE, Qt.SortOrder.AscendingOrder)
    assert names() == ["sub", "a.bin", "b.bin", "c.bin", "d.bin"]  # folder first, then 9 < 10 < 100 < 2000
    sizes = [proxy.index(r, FolderModel.COL_SIZE).data(FolderModel.SortRole) for r in range(proxy.rowCount())]
    assert all(type(s) is int for s in sizes) and sizes[1:] == [9, 10, 100, 2000]
    table.sortByColumn(FolderModel.COL_SIZE, Qt.SortOrder.DescendingOrder)
    assert names() == ["d.bin", "c.bin", "b.bin", "a.bin", "sub"]
    table.sortByColumn(FolderModel.COL_NAME, Qt.SortOrder.AscendingOrder)
    assert names() == ["sub", "a.bin", "b.bin", "c.bin", "d.bin"]
    item = proxy.index(1, 0).data(FolderModel.RowRole)  # RowRole survives the proxy
    assert (item.point_id, item.guest_path, item.entry.size) == (pid, "/disk0/vol1/share/a.bin", 9)
    assert point.spec.disks[0].partitions[0].files["share/a.bin"] == b"x" * 9
    assert proxy.index(0, FolderModel.COL_TYPE).data() == "Folder"
    assert proxy.index(1, FolderModel.COL_TYPE).data() == "BIN file"
    assert not proxy.index(1, 0).data(Qt.ItemDataRole.DecorationRole).isNull()


async def test_compressed_point_is_greyed_with_its_reason(qtbot, make_repo, make_services) -> None:
    disk = DiskSpec("none", [PartitionSpec("ext4", 4, "data", {"a.txt": "a"})])
    repo = make_repo({"app01": [PointSpec(datetime(2024, 6, 1, 1, 0, tzinfo=UTC), [disk]),
                                PointSpec(datetime(2024, 6, 2, 1, 0, tzinfo=UTC), [disk], compressed=True)]})
    services = make_services(repo.root)
    spy = ListSpy(services.catalog.list_dir)
    services.catalog.list_dir = spy  # type: ignore[method-assign]
    page = await open_page(qtbot, services)
    model = page.tree_model
    vm = model.index(0, 0)
    compressed = model.index(0, 0, vm)
    point: RestorePoint = compressed.data(PointsTreeModel.RowRole)
    assert point.status == "compressed" and point.reason
    status = model.index(0, PointsTreeModel.COL_STATUS, vm).data()
    assert "Compressed" in status and point.reason in status
    assert compressed.data(Qt.ItemDataRole.ForegroundRole) is not None  # greyed
    assert model.index(1, 0, vm).data(Qt.ItemDataRole.ForegroundRole) is None  # the good one is not
    assert point.reason in compressed.data(Qt.ItemDataRole.ToolTipRole)
    assert not model.hasChildren(compressed) and not model.canFetchMore(compressed)
    page.tree.setCurrentIndex(compressed)
    assert "Cannot be opened" in page.location.text() and point.reason in page.location.text()
    assert spy.calls == []


async def test_damaged_point_is_shown_damaged_with_its_reason(qtbot, make_repo, make_services) -> None:
    """A restore point whose disk header is damaged is indexed as damaged (not "ok"), greyed in the tree
    with the reason, and never listed (issue 15 §2)."""
    disk = DiskSpec("none", [PartitionSpec("ext4", 4, "data", {"a.txt": "a"})])
    repo = make_repo({"app01": [PointSpec(datetime(2024, 6, 1, 1, 0, tzinfo=UTC), [disk]),
                                PointSpec(datetime(2024, 6, 2, 1, 0, tzinfo=UTC), [disk])]})
    newest = repo.points["app01"][-1]
    with open(newest.folder / newest.disk_files[0], "r+b") as fh:  # the grain directory offset
        fh.seek(56)
        fh.write(b"\xff\xff\xff\x00")
    services = make_services(repo.root, index=False)
    page = await open_page(qtbot, services)
    handle = await page.index_now()  # the real index job, started from the page
    assert handle is not None and handle.error is None
    assert any("indexed as damaged" in e for e in handle.result.errors), handle.result.errors
    spy = ListSpy(services.catalog.list_dir)
    services.catalog.list_dir = spy  # type: ignore[method-assign]
    model = page.tree_model
    vm = model.index(0, 0)
    damaged = model.index(0, 0, vm)  # newest first
    point: RestorePoint = damaged.data(PointsTreeModel.RowRole)
    assert (point.status, point.browsable) == ("damaged", False)
    assert point.reason is not None and "sparse extent header is damaged" in point.reason
    status = model.index(0, PointsTreeModel.COL_STATUS, vm).data()
    assert status.startswith("Damaged: disk0:") and "grain directory" in status
    assert damaged.data(Qt.ItemDataRole.ForegroundRole) is not None
    assert model.index(1, 0, vm).data(Qt.ItemDataRole.ForegroundRole) is None
    def image(icon) -> object:
        return icon.pixmap(16, 16).toImage()

    warning = image(page.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
    assert image(damaged.data(Qt.ItemDataRole.DecorationRole)) == warning  # the sign, at any width
    assert image(model.index(1, 0, vm).data(Qt.ItemDataRole.DecorationRole)) != warning
    assert not model.hasChildren(damaged) and not model.canFetchMore(damaged)
    page.tree.setCurrentIndex(damaged)
    assert "Cannot be opened" in page.location.text() and "grain directory" in page.location.text()
    assert spy.calls == []


async def test_unreadable_disk_shows_the_reason_and_never_crashes(qtbot, backup_repo, make_services) -> None:
    services = make_services(backup_repo.root)
    newest = backup_repo.points["web01"][-1]
    # Damage the disk *after* indexing, as a flaky share or a half-overwritten backup would.
    image = newest.folder / newest.disk_files[0]
    for candidate in sorted(newest.folder.glob("*.vmdk")):
        with open(candidate, "r+b") as fh:
            fh.write(b"\0" * 4096)
    assert image.exists()
    page = await open_page(qtbot, services)
    model = page.tree_model
    point_index = model.point_index(services.catalog.points("web01")[0].id)
    assert await model.ensure_loaded(point_index)
    disk = model.index(0, 0, point_index)
    assert not await model.ensure_loaded(disk)  # the volumes are read from the damaged disk
    node = model.node(disk)
    assert node is not None and node.state is LoadState.FAILED
    status = model.index(0, PointsTreeModel.COL_STATUS, point_index).data()
    assert status.startswith("Cannot open:")
    assert disk.data(Qt.ItemDataRole.ForegroundRole) is not None
    page.tree.setCurrentIndex(disk)
    assert "Cannot be opened" in page.location.text()


async def test_keyboard_paths_and_accessible_names(qtbot, backup_repo, make_services, out_dir: Path) -> None:
    services = make_services(backup_repo.root)
    page = await open_page(qtbot, services, out_dir)
    page.activateWindow()
    pid = services.catalog.points("web01")[0].id
    assert await page.reveal(pid, "/disk0/vol1/Users/alice")
    # Enter on a folder row opens it
    proxy = page.folder_proxy
    documents = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "Documents")
    page.table.setCurrentIndex(proxy.index(documents, 0))
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    await until(lambda: page.folder_model.location == "/disk0/vol1/Users/alice/Documents", what="Documents")
    assert {page.folder_model.item(r).entry.name for r in range(page.folder_model.rowCount())} == {
        "Q3-report.xlsx", "new-on-day-2.docx"}
    # Delete never deletes: the status says so and the backup still lists the file
    page.table.selectRow(0)
    qtbot.keyClick(page.table, Qt.Key.Key_Delete)
    assert "Nothing was deleted" in page.status.text()
    assert page.folder_model.rowCount() == 2
    assert {e.name for e in services.catalog.list_dir(pid, "/disk0/vol1/Users/alice/Documents")} == {
        "Q3-report.xlsx", "new-on-day-2.docx"}
    # Backspace goes up
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Backspace)
    await until(lambda: page.folder_model.location == "/disk0/vol1/Users/alice", what="up")
    # Enter in the tree opens a level
    vol2 = page.tree_model.child_named(page.tree_model.child_named(page.tree_model.point_index(pid), "disk0"),
                                       "vol2")
    page.tree.setCurrentIndex(vol2)
    page.tree.setFocus()
    qtbot.keyClick(page.tree, Qt.Key.Key_Return)
    await until(lambda: page.tree.isExpanded(vol2) and page.tree_model.rowCount(vol2) == 1, what="vol2 open")
    # Ctrl+F focuses the search field
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert page.tabs.currentIndex() == 1 and page.search.pattern_edit.hasFocus()
    # every focusable control says what it is
    for tab in (0, 1):
        page.tabs.setCurrentIndex(tab)
        focusable = [w for w in page.findChildren(QWidget)
                     if w.isVisible() and w.focusPolicy() & Qt.FocusPolicy.TabFocus and not isinstance(w, QScrollBar)]
        assert len(focusable) > 5
        unnamed = [w for w in focusable if not w.accessibleName()
                   and not (isinstance(w, QAbstractButton) and w.text())
                   and w.parent() is not None and w.parent().objectName() != "qt_scrollarea_viewport"
                   and type(w.parent()).__name__ not in ("QTableView", "QTreeView", "QHeaderView")]
        assert unnamed == [], [(type(w).__name__, w.objectName()) for w in unnamed]


async def test_main_window_shows_the_page_for_real_services(qtbot, backup_repo, make_services, tmp_path) -> None:
    from PySide6.QtCore import QSettings

    from vmrestore.ui.main_window import MainWindow
    from vmrestore.ui.restore import RestorePointsPage

    services = make_services(backup_repo.root)
    window = MainWindow(services, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    page = window.pages["points"]
    assert isinstance(page, RestorePointsPage)
    window.show_area("points")
    await until(lambda: page.reloads > 0 and page.tree_model.vm_names() == ["db01", "web01"], what="points")
    # The whole window fits a 1024x700 screen with a Windows frame around it (8 px a side), the widest row
    # ("Add a repository…" shown) included: it was 1029 px wide at its minimum.
    page.add_repo_button.setVisible(True)
    window.show()
    hint = window.minimumSizeHint()
    assert hint.width() <= 1024 - 16 and hint.height() <= 700 - 40, hint
    # Work the page started is still under way when the window closes: closing the window stops it.
    task = page._tasks.spawn(asyncio.sleep(3600), name="still-running")
    window.close()
    await until(lambda: task.done(), what="page task cancelled")
    assert task.cancelled() and len(page._tasks) == 0
