"""Restore from the tree on the left: a whole volume and a whole disk, on real images; the tree's context menu."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.diskfactory import expected_tree
from tests.ui.conftest import until
from tests.ui.restore.conftest import open_page
from tests.ui.restore.test_restore_actions import restore_via_dialog
from vmrestore.ui.restore import context

pytestmark = pytest.mark.asyncio


async def select_in_tree(page, point_id: str, *names: str) -> None:
    index = page.tree_model.point_index(point_id)
    for name in names:
        assert await page.tree_model.ensure_loaded(index)
        page.tree.expand(index)
        index = page.tree_model.child_named(index, name)
        assert index.isValid(), name
    page.tree.setCurrentIndex(index)
    page.activateWindow()
    await until(page.isActiveWindow, what="the page's window to be active")
    page.tree.setFocus()
    await until(page.tree.hasFocus, what="focus in the tree")


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)).replace("\\", "/"): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_whole_volume_and_disk_from_the_tree(qtbot, backup_repo, make_services, out_dir) -> None:
    services = make_services(backup_repo.root)
    page = await open_page(qtbot, services, out_dir)
    newest = backup_repo.points["web01"][-1]
    point_id = services.catalog.points("web01")[0].id
    efi = {path.lstrip("/"): data for path, data in expected_tree(newest.spec.disks[0].partitions[1]).items()
           if isinstance(data, bytes)}

    await select_in_tree(page, point_id, "disk0", "vol2")
    assert [i.guest_path for i in page.selected_items()] == ["/disk0/vol2"]
    assert page.restore_button.isEnabled()
    result = await restore_via_dialog(page, target=out_dir)
    assert result is not None and result.files == len(efi)
    got = files_under(out_dir)
    assert {k.split("/", 1)[-1] if k not in efi else k: v for k, v in got.items()} == efi

    disk_target = out_dir / "disk"
    page.picked.clear()
    page._pick_folder = _picker(disk_target)
    await select_in_tree(page, point_id, "disk0")
    assert [i.guest_path for i in page.selected_items()] == ["/disk0"]
    result = await restore_via_dialog(page, target=disk_target)
    assert result is not None
    got = files_under(disk_target)
    assert {k for k in got if k.startswith("disk0-vol2/")} == {f"disk0-vol2/{k}" for k in efi}
    system = expected_tree(newest.spec.disks[0].partitions[0])
    assert got["disk0-vol1/Users/alice/Documents/Q3-report.xlsx"] == system["/Users/alice/Documents/Q3-report.xlsx"]


async def test_tree_context_menu_offers_restore(qtbot, backup_repo, make_services) -> None:
    services = make_services(backup_repo.root)
    page = await open_page(qtbot, services)
    point_id = services.catalog.points("web01")[0].id
    await select_in_tree(page, point_id, "disk0", "vol1", "Users")
    menu = context.tree_menu(page, page.tree, page.tree_model)  # what the right click / Menu key pops up
    assert menu.objectName() == "treeMenu"
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts[0] == "&Restore to this computer…"
    assert "&Collapse" in texts or "&Expand" in texts
    assert [i.guest_path for i in page.selected_items()] == ["/disk0/vol1/Users"]  # the tree had the focus last
    assert page.restore_action.isEnabled()


def _picker(target: Path):
    async def pick(_parent, _start: str) -> str:
        target.mkdir(parents=True, exist_ok=True)
        return str(target)

    return pick


async def test_a_target_that_cannot_be_written_is_said_in_words(qtbot, backup_repo, make_services, tmp_path
                                                                 ) -> None:
    from PySide6.QtWidgets import QApplication, QMessageBox

    services = make_services(backup_repo.root)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    page = await open_page(qtbot, services, blocker / "restored")
    point_id = services.catalog.points("web01")[0].id
    await select_in_tree(page, point_id, "disk0", "vol1", "Users")
    result = await restore_via_dialog(page, target=blocker / "restored")
    assert result is None
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert boxes, "the failure is shown"
    text = boxes[-1].windowTitle() + " " + boxes[-1].text()
    assert "probably a bug" not in text and "Errno" not in text and "NotADirectoryError" not in text
    assert "a-file" in text and "is a file, not a folder" in text, text
    for box in boxes:
        box.close()
