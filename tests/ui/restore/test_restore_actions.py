"""Search, versions, Restore to this computer and Index now, through the page, on real images and services."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QPushButton

from tests.bench.diskfactory import DiskSpec, PartitionSpec, PointSpec, expected_tree
from tests.ui.conftest import until
from tests.ui.restore.conftest import open_page
from vmrestore.app.catalog_service import HitCount
from vmrestore.app.restore import ExtractRequest
from vmrestore.model import JobState, Progress
from vmrestore.ui.restore.restore_flow import RestoreDialog
from vmrestore.ui.restore.search import SEARCH_LIMIT, SearchModel
from vmrestore.ui.restore.versions import VersionsDialog, VersionsModel

pytestmark = pytest.mark.asyncio

DOCS = "/disk0/vol1/Users/alice/Documents"


def message_boxes(name: str) -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.objectName() == name
            and w.isVisible()]


def select_rows(page, names: set[str]) -> None:
    page.table.clearSelection()
    proxy = page.folder_proxy
    for row in range(proxy.rowCount()):
        if proxy.index(row, 0).data() in names:
            page.table.selectionModel().select(
                proxy.index(row, 0), page.table.selectionModel().SelectionFlag.Select
                | page.table.selectionModel().SelectionFlag.Rows)
    assert {i.entry.name for i in page.selected_items()} == names


async def restore_via_dialog(page, conflict: str = "keep_both", target: Path | None = None):
    """Click Restore, pick the folder with Browse (the injected picker), choose ``conflict``, confirm."""
    results: list[object] = []
    page.restoreFinished.connect(results.append)
    assert page.restore_button.isEnabled()
    page.restore_button.click()
    await until(lambda: any(d.isVisible() for d in page.findChildren(RestoreDialog)), what="restore dialog")
    dialog = next(d for d in page.findChildren(RestoreDialog) if d.isVisible())
    dialog.target_edit.clear()
    dialog.browse_button.click()
    await until(lambda: dialog.target_edit.text() != "", what="picked folder")
    if target is not None:
        assert dialog.target_edit.text() == str(target)
    dialog.conflict_buttons[conflict].click()
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    await until(lambda: results, timeout=20, what="restore finished")
    page.restoreFinished.disconnect(results.append)
    return results[0]


async def test_search_finds_a_file_in_every_point_that_holds_it(qtbot, backup_repo, make_services) -> None:
    services = make_services(backup_repo.root)
    page = await open_page(qtbot, services)
    web = backup_repo.points["web01"]
    qtbot.keyClick(page, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert page.search.pattern_edit.hasFocus()

    counts: list[int] = []
    page.search.searchFinished.connect(counts.append)
    qtbot.keyClicks(page.search.pattern_edit, "new-on-day")
    qtbot.keyClick(page.search.pattern_edit, Qt.Key.Key_Return)
    await until(lambda: counts, what="search")
    model = page.search.model
    assert counts == [1]
    hit = model.hit(0)
    # One version of the file, held by day 2 and day 3 (not day 1): the hit spans exactly those points.
    assert (hit.vm, hit.first_seen, hit.last_seen, hit.created) == ("web01", web[1].created, web[2].created,
                                                                     web[2].created)
    assert page.search.proxy.index(0, SearchModel.COL_PATH).data() == f"{DOCS}/new-on-day-2.docx"
    assert page.search.proxy.index(0, SearchModel.COL_SIZE).data(SearchModel.SortRole) == 12
    versions = services.catalog.versions(hit.point_id, f"{DOCS}/new-on-day-2.docx")
    assert [v.created for v in versions] == [web[2].created, web[1].created]

    # glob, all VMs: the report is in every web01 point (one unchanged version), the conf in both db01 points
    page.search.pattern_edit.setText("*.conf")
    page.search.search_button.click()
    await until(lambda: len(counts) == 2, what="glob search")
    db = backup_repo.points["db01"]
    assert {(h.vm, h.path, h.first_seen, h.last_seen) for h in model.hits()} == {
        ("db01", "/etc/postgresql/postgresql.conf", db[0].created, db[1].created)}

    page.search.pattern_edit.setText("Q3-REPORT.xlsx")
    page.search.search_button.click()
    await until(lambda: len(counts) == 3)
    assert [(h.first_seen, h.last_seen) for h in model.hits()] == [(web[0].created, web[2].created)]

    # More hits than the page shows: the status line gives the total, counted after the page is shown.
    totals: list[HitCount] = []
    page.search.totalCounted.connect(totals.append)
    page.search.limit = 1
    page.search.pattern_edit.setText("e")
    page.search.search_button.click()
    await until(lambda: totals, what="count")
    assert counts[-1] == 1 and model.rowCount() == 1
    expected = services.catalog.count_hits("e")
    assert totals == [expected] and expected.total >= 2 and not expected.is_lower_bound
    assert page.search.status.text().startswith(f"Showing 1–1 of {expected.total} matches")
    page.search.limit = SEARCH_LIMIT
    page.search.pattern_edit.setText("Q3-REPORT.xlsx")
    page.search.search_button.click()
    await until(lambda: len(totals) == 2)
    assert totals[-1] == HitCount(1, False) and page.search.status.text().startswith("1 match.")

    # VM filter and date range
    page.search.vm_combo.setCurrentIndex(page.search.vm_combo.findData("db01"))
    page.search.search_button.click()
    await until(lambda: len(counts) == 6)
    assert counts[-1] == 0
    page.search.vm_combo.setCurrentIndex(page.search.vm_combo.findData("web01"))
    day2 = web[1].created.astimezone().date()
    page.search.until_check.setChecked(True)
    page.search.until_edit.setDate(QDate(day2.year, day2.month, day2.day))
    page.search.search_button.click()
    await until(lambda: len(counts) == 7)
    assert [h.created for h in model.hits()] == [web[1].created]  # newest point within the range

    # Enter on a result opens its folder in the tree and selects the file
    page.search.table.setCurrentIndex(page.search.proxy.index(0, 0))
    qtbot.keyClick(page.search.table, Qt.Key.Key_Return)
    await until(lambda: page.folder_model.location == DOCS and page.tabs.currentIndex() == 0, what="reveal")
    assert page.tree_model.node(page.tree.currentIndex()).path == DOCS
    assert [i.entry.name for i in page.selected_items()] == ["Q3-report.xlsx"]
    assert page.selected_items()[0].point_id == f"main/web01/{web[1].folder.name}"


async def test_search_errors_are_shown_not_raised(qtbot, backup_repo, make_services) -> None:
    services = make_services(backup_repo.root)
    page = await open_page(qtbot, services)
    counts: list[int] = []
    page.search.searchFinished.connect(counts.append)
    page.search.search_button.click()  # empty pattern
    await until(lambda: counts)
    assert counts == [-1]
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert [b.windowTitle() or b.accessibleName() for b in boxes] == ["Invalid input"]
    for box in boxes:
        box.close()


async def test_versions_dialog_highlights_changed_versions(qtbot, make_repo, make_services, out_dir) -> None:
    def point(day: int, report: str) -> PointSpec:
        files = {"share/report.txt": report, "share/other.txt": "same"}
        return PointSpec(datetime(2024, 6, day, 20, 0, tzinfo=UTC),
                         [DiskSpec("mbr", [PartitionSpec("ext4", 4, "share", files)])])

    repo = make_repo({"fs01": [point(1, "v1"), point(2, "v22"), point(3, "v22")]})
    services = make_services(repo.root)
    page = await open_page(qtbot, services, out_dir)
    newest = services.catalog.points("fs01")[0]
    assert await page.reveal(newest.id, "/disk0/vol1/share", "/disk0/vol1/share/report.txt")
    assert page.versions_button.isEnabled()
    page.versions_button.click()
    await until(lambda: any(d.isVisible() for d in page.findChildren(VersionsDialog)), what="versions dialog")
    dialog = next(d for d in page.findChildren(VersionsDialog) if d.isVisible())
    await until(lambda: dialog.model.rowCount() == 3, what="versions")
    proxy = dialog.proxy
    created = [proxy.index(r, VersionsModel.COL_POINT).data(VersionsModel.RowRole).created for r in range(3)]
    assert created == [p.created for p in reversed(repo.points["fs01"])]
    assert [proxy.index(r, VersionsModel.COL_CHANGED).data() for r in range(3)] == [
        "Same as before", "Changed", "Changed"]
    assert [proxy.index(r, VersionsModel.COL_SIZE).data(VersionsModel.SortRole) for r in range(3)] == [3, 3, 2]
    bold = [proxy.index(r, 0).data(Qt.ItemDataRole.FontRole) for r in range(3)]
    assert bold[0] is None and bold[1].bold() and bold[2].bold()
    assert proxy.index(1, 0).data(Qt.ItemDataRole.BackgroundRole) is not None

    # "Restore this version…" of the oldest point writes that version's bytes
    dialog.table.selectRow(2)
    results: list[object] = []
    page.restoreFinished.connect(results.append)
    dialog.restore_button.click()
    await until(lambda: any(d.isVisible() for d in page.findChildren(RestoreDialog)), what="restore dialog")
    restore = next(d for d in page.findChildren(RestoreDialog) if d.isVisible())
    restore.browse_button.click()
    await until(lambda: restore.target_edit.text() == str(out_dir))
    restore.buttons.button(restore.buttons.StandardButton.Ok).click()
    await until(lambda: results, timeout=20)
    assert (out_dir / "report.txt").read_bytes() == b"v1"
    for box in message_boxes("restoreSummary"):
        box.close()


async def test_restore_to_this_computer_writes_exact_bytes_and_handles_conflicts(
        qtbot, backup_repo, make_services, out_dir: Path) -> None:
    services = make_services(backup_repo.root)
    page = await open_page(qtbot, services, out_dir)
    web = backup_repo.points["web01"]
    files = web[2].spec.disks[0].partitions[0].files
    pid = services.catalog.points("web01")[0].id
    assert await page.reveal(pid, DOCS)
    select_rows(page, {"Q3-report.xlsx", "new-on-day-2.docx"})

    first = await restore_via_dialog(page, target=out_dir)
    assert (first.files, first.renamed, first.skipped) == (2, (), ())
    report = files["Users/alice/Documents/Q3-report.xlsx"].encode()
    assert (out_dir / "Q3-report.xlsx").read_bytes() == report
    assert (out_dir / "new-on-day-2.docx").read_bytes() == files["Users/alice/Documents/new-on-day-2.docx"]
    assert first.bytes == len(report) + 12
    assert page.picked == [str(Path.home())]  # the picker was asked, from a sensible start
    for box in message_boxes("restoreSummary"):
        box.close()

    select_rows(page, {"Q3-report.xlsx"})
    second = await restore_via_dialog(page, "keep_both", out_dir)
    assert (out_dir / "Q3-report (1).xlsx").read_bytes() == report
    assert second.renamed == (("/Users/alice/Documents/Q3-report.xlsx", "Q3-report (1).xlsx"),)
    summary = message_boxes("restoreSummary")
    assert len(summary) == 1 and "Q3-report (1).xlsx" in summary[0].informativeText()
    summary[0].close()

    (out_dir / "Q3-report.xlsx").write_bytes(b"changed by the user")
    third = await restore_via_dialog(page, "skip", out_dir)
    assert third.files == 0 and [s.path for s in third.skipped] == ["/Users/alice/Documents/Q3-report.xlsx"]
    assert (out_dir / "Q3-report.xlsx").read_bytes() == b"changed by the user"
    summary = message_boxes("restoreSummary")
    assert "Skipped" in summary[0].informativeText() and "Q3-report.xlsx" in summary[0].informativeText()
    summary[0].close()

    fourth = await restore_via_dialog(page, "overwrite", out_dir)
    assert fourth.files == 1 and (out_dir / "Q3-report.xlsx").read_bytes() == report
    assert sorted(p.name for p in out_dir.iterdir()) == ["Q3-report (1).xlsx", "Q3-report.xlsx",
                                                        "new-on-day-2.docx"]
    for box in message_boxes("restoreSummary"):
        box.close()

    # a whole folder, from the folder table one level up
    assert await page.reveal(pid, "/disk0/vol1/Users")
    select_rows(page, {"alice", "bob"})
    tree_out = out_dir / "users"
    tree_out.mkdir()
    results: list[object] = []
    page.restoreFinished.connect(results.append)
    page.restore_button.click()
    await until(lambda: any(d.isVisible() for d in page.findChildren(RestoreDialog)))
    dialog = next(d for d in page.findChildren(RestoreDialog) if d.isVisible())
    assert dialog.target_edit.text() == str(out_dir)  # remembered from the last restore
    dialog.target_edit.setText(str(tree_out))
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    await until(lambda: results, timeout=20)
    want = {p: v for p, v in expected_tree(web[2].spec.disks[0].partitions[0]).items()
            if p.startswith(("/Users/alice", "/Users/bob"))}
    got = {"/Users/" + p.relative_to(tree_out).as_posix(): p for p in tree_out.rglob("*")}
    assert set(got) == set(want)
    for path, value in want.items():
        if value is not None:
            assert got[path].read_bytes() == value, path
    for box in message_boxes("restoreSummary"):
        box.close()

    # every restore left an audit entry
    entries = [e for e in services.audit.entries() if e.action == "extract"]
    assert [e.result for e in entries] == ["ok"] * 5
    assert entries[0].target.startswith(pid) and str(out_dir) in entries[0].target
    from tests.integration.cli.test_cli_restore import AUDIT_DETAIL_KEYS  # the CLI writes the same fields

    assert all(set(e.detail) == AUDIT_DETAIL_KEYS for e in entries)
    assert entries[0].detail["to"] == str(out_dir) and entries[0].detail["files"] == 2


async def test_restore_errors_are_shown_and_the_page_survives(qtbot, backup_repo, make_services, out_dir) -> None:
    services = make_services(backup_repo.root)
    page = await open_page(qtbot, services, out_dir)
    pid = services.catalog.points("web01")[0].id
    assert await page.reveal(pid, DOCS)
    select_rows(page, {"Q3-report.xlsx"})
    newest = backup_repo.points["web01"][-1]
    for vmdk in newest.folder.glob("*.vmdk"):  # the backup is damaged after indexing
        with open(vmdk, "r+b") as fh:
            fh.write(b"\0" * 4096)
    result = await restore_via_dialog(page, target=out_dir)
    assert result is None
    await until(lambda: any(isinstance(w, QMessageBox) and w.isVisible() and w.accessibleName() ==
                            "Disk image unreadable" for w in QApplication.topLevelWidgets()), what="error box")
    assert list(out_dir.iterdir()) == []
    assert [e.result for e in services.audit.entries() if e.action == "extract"] == ["failed:corrupt_image"]
    for box in [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]:
        box.close()
    # selections that cannot be restored are refused with words, before any dialog
    assert await page.reveal(pid, "/disk0")
    page.table.selectAll()
    await page.restore(page.selected_items())
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert [b.accessibleName() for b in boxes] == ["Invalid input"]
    boxes[0].close()


async def test_restore_runs_as_a_job_shown_in_jobs_and_its_cancel_leaves_no_partial_file(
        qtbot, make_repo, make_services, out_dir) -> None:
    """The page no longer copies in its own executor: the copy is a scheduler job (Jobs lists it, with
    progress), Cancel in the progress dialog cancels that job, the audit says so, and no file is left
    under its final name (issue 15 §2)."""
    big = bytes(range(256)) * (96 * 1024)  # 24 MiB: many 1 MiB chunks, time to cancel between them
    spec = DiskSpec("gpt", [PartitionSpec("ntfs", 64, "DATA", {"big/huge.bin": big, "big/small.txt": "s"})])
    repo = make_repo({"vm1": [PointSpec(datetime(2024, 5, 1, tzinfo=UTC), [spec])]})
    services = make_services(repo.root)
    page = await open_page(qtbot, services, out_dir)
    pid = services.catalog.points("vm1")[0].id
    assert await page.reveal(pid, "/disk0/vol1/big")
    select_rows(page, {"huge.bin"})
    seen: list[object] = []
    services.scheduler.add_listener(seen.append)
    cancelled: list[Progress] = []
    loop = asyncio.get_running_loop()
    real_extract = services.catalog.extract

    def click_cancel() -> None:
        [progress] = [w for w in page.findChildren(QProgressDialog) if w.objectName() == "restoreProgress"]
        [button] = [b for b in progress.findChildren(QPushButton) if b.text() == "Cancel"]
        button.click()  # the dialog's own Cancel button

    def paused_extract(point_id, paths, target, conflict, on_progress, cancel):
        """The real extraction; at its first report in the middle of the file, the worker waits until the
        dialog's Cancel (clicked on the Qt thread) has reached the job: deterministic, however fast the copy."""
        def hook(progress: Progress) -> None:
            on_progress(progress)
            if progress.fraction and not cancelled:
                cancelled.append(progress)
                loop.call_soon_threadsafe(click_cancel)
                assert cancel.wait(10)

        return real_extract(point_id, paths, target, conflict, hook, cancel)

    services.catalog.extract = paused_extract  # a spy around the real call, as ListSpy does for listings
    result = await restore_via_dialog(page, target=out_dir)
    assert result is None
    [handle] = seen
    assert handle.kind == "extract" and handle.state is JobState.CANCELLED
    assert handle.resource_keys == (f"point:{pid}",)
    assert handle.title == f"Restore huge.bin from {pid.rsplit('/', 1)[-1]}"  # short enough for the Jobs table
    assert str(out_dir) in handle.log_lines[0] and "/disk0/vol1/big/huge.bin" in handle.log_lines[0]
    assert cancelled and 0 < cancelled[0].fraction < 1
    assert list(out_dir.iterdir()) == []  # no huge.bin, no hidden partial file either
    assert [e.result for e in services.audit.entries() if e.action == "extract"] == ["failed:cancelled"]
    await until(lambda: message_boxes("restoreCancelled"), what="cancelled box")
    for box in message_boxes("restoreCancelled"):
        box.close()

    services.catalog.extract = real_extract
    # the same request through the use case the CLI uses runs to the end with exact bytes
    handle = services.restore.start_extract(ExtractRequest(pid, ("/disk0/vol1/big/huge.bin",), str(out_dir)))
    await handle.wait()
    assert handle.state is JobState.DONE and (out_dir / "huge.bin").read_bytes() == big
    assert [e.result for e in services.audit.entries() if e.action == "extract"] == ["failed:cancelled", "ok"]


async def test_index_now_runs_the_real_job_and_fills_the_tree(qtbot, backup_repo, make_services) -> None:
    services = make_services(backup_repo.root, index=False)
    page = await open_page(qtbot, services)
    assert page.tree_model.rowCount() == 0
    assert "No restore points" in page.status.text()
    handles: list[object] = []
    page.indexFinished.connect(handles.append)
    page.index_button.click()
    await until(lambda: handles, timeout=120, what="index job")
    handle = handles[0]
    assert handle.state is JobState.DONE, handle.error
    assert handle in services.scheduler.jobs()  # the Jobs page lists it
    assert handle.result.points_added == 5 and handle.result.errors == []
    await until(lambda: page.tree_model.rowCount() == 2, what="tree refilled")
    assert page.tree_model.vm_names() == ["db01", "web01"]
    assert [page.search.vm_combo.itemData(i) for i in range(page.search.vm_combo.count())] == [None, "db01", "web01"]
    assert services.catalog.search("Q3-report")  # indexed for search
    assert page.repo_combo.count() == 2 and "5 restore points" in page.repo_combo.itemText(1)
