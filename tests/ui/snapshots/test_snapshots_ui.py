"""SnapshotsPage, its table model, chart and the cleanup wizard's review step (pytest-qt on qasync)."""

from __future__ import annotations

import asyncio
import csv
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from tests.ui.conftest import until
from vmrestore.app.settings import AppSettings
from vmrestore.app.snapshots.classify import Thresholds, build_report
from vmrestore.app.snapshots.cleanup import CleanupReport, DryRun, ItemOutcome, Preflight, make_plan
from vmrestore.app.snapshots.types import SnapshotClass, SnapshotReport
from vmrestore.app.snapshots.watch import SnapshotWatch
from vmrestore.model import Role
from vmrestore.ui.snapshots.models import COL_SIZE, SnapshotFilterProxy, SnapshotTableModel, SortRole
from vmrestore.ui.snapshots.page import SnapshotsPage, export_csv, export_html
from vmrestore.ui.snapshots.views import GIB, DeltaChart
from vmrestore.ui.snapshots.wizard import PAGE_CRITERIA, PAGE_PLAN, PAGE_REPORT, CleanupWizard
from vmrestore.vsphere.snapshots.types import (
    DatastoreState,
    LayoutFile,
    ScanResult,
    SnapshotRecord,
    VmSnapshotState,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BIG = 5 * 1024**3  # over 2**31: Qt's 32-bit ints would truncate it


def _snap(moref: str, name: str, days: float, size: int, parent: str | None = None, depth: int = 0) -> SnapshotRecord:
    files = (LayoutFile(f"[ds1] vm/{moref}-000001-delta.vmdk", size, "delta"),) if size else ()
    return SnapshotRecord(moref=moref, name=name, description="", created=NOW - timedelta(days=days), quiesced=False,
                          memory=False, power_state="poweredOff", parent=parent, depth=depth, is_current=False,
                          files=files)


def _settings(role: Role) -> AppSettings:
    return AppSettings(role=role)


def report() -> SnapshotReport:
    vm1 = VmSnapshotState("vm-1", "web01", "poweredOn", "host-1", ("ds-1",), False, (
        _snap("snapshot-1", "VEEAM BACKUP TEMPORARY SNAPSHOT", 10, BIG),
        _snap("snapshot-2", "child", 2, 1000, parent="snapshot-1", depth=1),
    ), delta_by_datastore=(("ds1", BIG + 1000),))
    vm2 = VmSnapshotState("vm-2", "db01", "poweredOn", "host-1", ("ds-1",), False, (
        _snap("snapshot-3", "ghettoVCB-snapshot-2026-01-01", 30, 2000),
    ), delta_by_datastore=(("ds1", 2000),))
    stores = (DatastoreState("ds-1", "ds1", 100 * GIB, 40 * GIB, True),
              DatastoreState("ds-2", "ds2", 50 * GIB, 45 * GIB, True))
    return build_report(ScanResult(NOW, (vm1, vm2), stores), Thresholds(), NOW)


def test_table_model_passes_the_model_tester_and_sorts_native_sizes(qtmodeltester: Any) -> None:
    model = SnapshotTableModel()
    model.set_report(report())
    qtmodeltester.check(model)
    proxy = SnapshotFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy)
    sizes = [model.data(model.index(r, COL_SIZE), SortRole) for r in range(model.rowCount())]
    assert BIG in sizes and all(type(v) is int for v in sizes)  # Python ints, not truncated to 32 bits
    proxy.sort(COL_SIZE, Qt.SortOrder.DescendingOrder)
    assert proxy.data(proxy.index(0, 1)) == "VEEAM BACKUP TEMPORARY SNAPSHOT"
    proxy.sort(COL_SIZE, Qt.SortOrder.AscendingOrder)
    assert proxy.data(proxy.index(0, 1)) == "child"
    proxy.set_class(SnapshotClass.LEFTOVER)
    assert proxy.rowCount() == 2
    proxy.set_text("db01")
    assert proxy.rowCount() == 1


def test_chart_shows_delta_against_free_per_datastore(qtbot: Any) -> None:
    chart = DeltaChart()
    qtbot.addWidget(chart)
    chart.set_report(report())
    assert chart.categories == ["ds1", "ds2"]
    assert chart.delta_set is not None and chart.free_set is not None
    assert chart.delta_set.at(0) == pytest.approx((BIG + 3000) / GIB)
    assert chart.delta_set.at(1) == 0 and chart.free_set.at(0) == pytest.approx(40)


def test_exports_write_every_snapshot(tmp_path: Path) -> None:
    r = report()
    export_csv(r, tmp_path / "s.csv")
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert {row["name"] for row in rows} == {s.name for s in r.snapshots}
    assert {int(row["size"]) for row in rows} == {BIG, 1000, 2000}
    export_html(r, tmp_path / "s.html")
    text = (tmp_path / "s.html").read_text()
    assert "ghettoVCB-snapshot-2026-01-01" in text and f"data-bytes='{BIG}'" in text


class FakeCleanup:
    """Our own cleanup port (``CleanupPort``): the real pure plan, recording every run it is asked for."""

    def __init__(self, min_age_hours: float = 24.0) -> None:
        self.min_age_hours = min_age_hours
        self.runs: list[list[str]] = []
        self.cancelled = False
        self.go_on = asyncio.Event()
        self.go_on.set()  # a test clears it to hold the run in the middle

    async def dry_run(self, rep: SnapshotReport, criteria: Any, *, remove_children: bool = False) -> DryRun:
        plan = make_plan(rep, criteria, remove_children=remove_children, min_age_hours=self.min_age_hours)
        return DryRun(plan, Preflight(tuple(plan.items), ()))

    async def run(self, plan: Any, *, listener: Any = None) -> CleanupReport:
        self.runs.append([i.moref for i in plan.items])
        out = CleanupReport(plan=plan)
        for item in plan.items:
            listener("start", item, "removing")
            await self.go_on.wait()
            out.removed.append(ItemOutcome(item, True))
            listener("done", item, "removed")
        out.freed_bytes = plan.total_bytes
        return out

    def cancel(self) -> None:
        self.cancelled = True


def _report_with_young_leftover() -> SnapshotReport:
    rep = report()
    vm2 = rep.scan.vms[1]
    young = _snap("snapshot-7", "VEEAM BACKUP TEMPORARY SNAPSHOT", 0.1, 500)
    scan = ScanResult(NOW, (rep.scan.vms[0], replace(vm2, snapshots=(*vm2.snapshots, young))), rep.scan.datastores)
    return build_report(scan, Thresholds(), NOW)


@pytest.mark.asyncio
async def test_wizard_shows_the_plan_and_removes_only_from_its_own_button_once(qtbot: Any) -> None:
    fake = FakeCleanup()
    wizard = CleanupWizard(fake, _report_with_young_leftover())
    qtbot.addWidget(wizard)
    wizard.show()
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    # Only "left behind by a backup tool": even so, the 0.1-day-old Veeam snapshot is never offered.
    wizard.criteria_page.use_age.setChecked(False)
    wizard.next()  # criteria → the plan
    assert wizard.currentId() == PAGE_PLAN
    page = wizard.plan_page
    await until(lambda: page.dry is not None, what="the plan")
    # The plan: both old leftovers offered, the 0.1-day-old one held back with the reason.
    offered = [page.list.topLevelItem(i).text(0) for i in range(page.list.topLevelItemCount())]  # type: ignore[union-attr]
    assert sorted(offered) == ["VEEAM BACKUP TEMPORARY SNAPSHOT", "ghettoVCB-snapshot-2026-01-01"]
    assert page.kept.topLevelItemCount() == 1
    held = page.kept.topLevelItem(0)
    assert held is not None and "younger than 24 h" in held.text(2)
    assert page.run_button.text() == "&Remove 2 snapshots" and page.run_button.isEnabled()
    # Untick one: the button names the new count.
    first = page.list.topLevelItem(0)
    assert first is not None
    kept = str(first.data(0, Qt.ItemDataRole.UserRole))
    first.setCheckState(0, Qt.CheckState.Unchecked)
    assert page.run_button.text() == "&Remove 1 snapshot"
    # Neither "Next >" nor Enter runs anything.
    assert not next_button.isEnabled()
    wizard.next()
    qtbot.keyClick(wizard, Qt.Key.Key_Return)
    await asyncio.sleep(0.05)
    assert wizard.currentId() == PAGE_PLAN and fake.runs == []
    # The button runs it, once.
    qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    await until(lambda: page.isComplete(), what="the run")
    assert len(fake.runs) == 1 and kept not in fake.runs[0] and len(fake.runs[0]) == 1
    qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)  # disabled now; a click does nothing
    # After the run: "< Back" then "Next >" shows that it ran and never runs again.
    wizard.back()
    assert wizard.currentId() == PAGE_CRITERIA
    wizard.next()
    assert wizard.currentId() == PAGE_PLAN
    await asyncio.sleep(0.05)
    assert not page.run_button.isEnabled() and "The cleanup ran" in page.total.text()
    wizard.start_run()  # even asked directly
    await asyncio.sleep(0.05)
    assert len(fake.runs) == 1
    wizard.next()
    assert wizard.currentId() == PAGE_REPORT and "Removed 1 snapshot" in wizard.report_page.text.toPlainText()
    assert len(fake.runs) == 1
    wizard.reject()


class FakeScanner:
    """Our own scan port: hands out the given reports in order (the last one repeats)."""

    def __init__(self, reports: list[SnapshotReport]) -> None:
        self.reports = reports
        self.calls = 0

    async def run(self, *, orphans: bool = True) -> SnapshotReport:
        assert orphans is False  # a background check never searches the datastores
        self.calls += 1
        await asyncio.sleep(0)
        return self.reports[min(self.calls, len(self.reports)) - 1]


class FakeTray:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def showMessage(self, title: str, text: str, icon: Any, msecs: int) -> None:
        self.messages.append((title, text))


def _with_new_leftover(rep: SnapshotReport) -> SnapshotReport:
    vm1 = rep.scan.vms[0]
    extra = replace(_snap("snapshot-9", "BareosTmpSnap_jobId_77", 0.1, 1000),
                    description="Bareos Tmp Snap jobId 77 jobName web01")
    scan = ScanResult(NOW, (replace(vm1, snapshots=(*vm1.snapshots, extra)), *rep.scan.vms[1:]),
                      rep.scan.datastores)
    return build_report(scan, Thresholds(), NOW)


@pytest.mark.asyncio
async def test_background_watch_notifies_new_leftovers_once(qtbot: Any) -> None:
    from vmrestore.ui.snapshots.watch import SnapshotWatcher

    first = report()
    scanner = FakeScanner([first, first, _with_new_leftover(first)])
    tray = FakeTray()
    watcher = SnapshotWatcher(lambda: True, scanner, tray, 20, SnapshotWatch(max_datastore_share=0.5))
    watcher.start()
    try:
        await until(lambda: scanner.calls >= 3 and not watcher.busy, what="three background scans")
    finally:
        watcher.stop()
    # Scan 1: the two leftovers that exist; scan 2: nothing new, no message; scan 3: the new one only.
    assert len(tray.messages) == 2, tray.messages
    assert "2 new leftover" in tray.messages[0][0]
    assert "1 new leftover" in tray.messages[1][0] and "BareosTmpSnap_jobId_77" in tray.messages[1][1]
    assert "datastore" not in tray.messages[0][0]  # 5 GiB of 100 GiB is under the 50% limit


@pytest.mark.asyncio
async def test_background_watch_skips_without_a_session(qtbot: Any) -> None:
    from vmrestore.ui.snapshots.watch import SnapshotWatcher

    scanner = FakeScanner([report()])
    watcher = SnapshotWatcher(lambda: False, scanner, FakeTray(), 10, SnapshotWatch(max_datastore_share=0.1))
    watcher.start()
    await asyncio.sleep(0.1)
    watcher.stop()
    assert scanner.calls == 0


class FakeOrphans:
    """Our own ``OrphanFiles`` port: records what the wizard asked for (plan, then the move)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def quarantine(self, paths: list[str], **kwargs: Any) -> Any:
        from vmrestore.app.snapshots.quarantine import Moved, QuarantineReport

        self.calls.append({"paths": list(paths), **kwargs})
        moves = [Moved(p, p.replace("[ds1] ", "[ds1] .vmrestore-quarantine/2026-11-26/"), 10) for p in paths]
        dry = bool(kwargs.get("dry_run"))
        return QuarantineReport(dry_run=dry, plan=moves if dry else [], moved=[] if dry else moves)


def _report_with_orphans() -> SnapshotReport:
    from vmrestore.vsphere.snapshots.coverage import REASON_VMS
    from vmrestore.vsphere.snapshots.types import OrphanFile

    rep = report()
    lost = (OrphanFile("ds1", "[ds1] gone/gone-000001.vmdk", 4096, NOW - timedelta(days=40)),
            OrphanFile("ds1", "[ds1] gone/gone-Snapshot2.vmsn", 10, NOW - timedelta(days=40)),
            OrphanFile("ds1", "[ds1] other/other-000002.vmdk", 20, NOW - timedelta(days=40), False, REASON_VMS))
    return build_report(replace(rep.scan, orphans=lost, orphans_scanned=True), Thresholds(), NOW)


@pytest.mark.asyncio
async def test_orphan_wizard_shows_the_plan_then_moves_once_with_a_named_button(qtbot: Any) -> None:
    from PySide6.QtWidgets import QWizard

    from vmrestore.ui.snapshots.orphans_wizard import PAGE_PLAN, PAGE_RESULT

    fake = FakeOrphans()
    page = SnapshotsPage(_settings(Role.ADMIN), scanner=FakeScanner([_report_with_orphans()]), cleanup=FakeCleanup(),
                         orphans=fake)
    qtbot.addWidget(page)
    rep = _report_with_orphans()
    page.set_report(rep)
    assert page.orphans_button.isEnabled() and "(3)" in page.orphans_button.text()
    wizard = page.open_orphan_wizard()
    assert wizard is not None
    pick = wizard.pick_page
    assert pick.list.topLevelItemCount() == 3 and not pick.isComplete()  # nothing ticked by default
    rows = [pick.list.topLevelItem(i) for i in range(3)]
    assert all(r is not None for r in rows)
    possibly = next(r for r in rows if r is not None and r.text(0).startswith("[ds1] other/"))
    assert not possibly.flags() & Qt.ItemFlag.ItemIsUserCheckable  # not provably orphaned: cannot be ticked
    assert "not every VM on this datastore is visible to you" in possibly.text(3)
    first = rows[0]
    assert first is not None and first.text(0) == "[ds1] gone/gone-000001.vmdk"
    first.setCheckState(0, Qt.CheckState.Checked)
    assert pick.isComplete()
    wizard.next()
    assert wizard.currentId() == PAGE_PLAN
    plan = wizard.plan_page
    await until(lambda: plan.isComplete(), what="plan")
    assert fake.calls == [{"paths": ["[ds1] gone/gone-000001.vmdk"], "confirmed": False, "dry_run": True,
                           "shown": rep.orphans}]
    assert plan.table.topLevelItem(0).text(2) == "[ds1] .vmrestore-quarantine/2026-11-26/gone/gone-000001.vmdk"
    assert wizard.button(QWizard.WizardButton.CommitButton).text() == "Move 1 file to quarantine"
    assert plan.isCommitPage()
    wizard.next()
    assert wizard.currentId() == PAGE_RESULT
    await until(lambda: wizard.result_page.isComplete(), what="move")
    assert len(fake.calls) == 2 and fake.calls[1]["confirmed"] and not fake.calls[1].get("dry_run")
    assert fake.calls[1]["paths"] == ["[ds1] gone/gone-000001.vmdk"]
    text = wizard.result_page.text.toPlainText()
    assert "Moved 1 file" in text and ".vmrestore-quarantine/2026-11-26/gone/gone-000001.vmdk" in text
    assert not wizard.button(QWizard.WizardButton.BackButton).isVisible() or not wizard.button(
        QWizard.WizardButton.BackButton).isEnabled()
    wizard.initializePage(PAGE_RESULT)  # whatever happens to the pages, the move never runs twice
    await asyncio.sleep(0.05)
    assert len(fake.calls) == 2
    wizard.reject()


def test_orphan_button_is_admin_only(qtbot: Any) -> None:
    page = SnapshotsPage(_settings(Role.HELPDESK), scanner=FakeScanner([]), cleanup=FakeCleanup(),
                         orphans=FakeOrphans())
    qtbot.addWidget(page)
    page.set_report(_report_with_orphans())
    assert not page.orphans_button.isEnabled() and page.open_orphan_wizard() is None


def _report_of(count: int) -> SnapshotReport:
    """``count`` VMs with one snapshot each, on one datastore."""
    vms = tuple(VmSnapshotState(f"vm-{i}", f"vm{i:05d}", "poweredOn", "host-1", ("ds-1",), False,
                                (_snap(f"snapshot-{i}", "nightly", 1 + i % 40, 1000 * i),),
                                delta_by_datastore=(("ds1", 1000 * i),)) for i in range(count))
    return build_report(ScanResult(NOW, vms, (DatastoreState("ds-1", "ds1", 100 * GIB, 40 * GIB, True),)),
                        Thresholds(), NOW)


class OneReportScanner:
    """Our own scan port for the Scan button: returns ``report``, once per click."""

    def __init__(self, report: SnapshotReport) -> None:
        self.report = report

    async def run(self, *, orphans: bool = True) -> SnapshotReport:
        await asyncio.sleep(0)
        return self.report


@pytest.mark.asyncio
async def test_a_big_scan_reaches_the_table_in_chunks_with_rows_built_off_the_qt_thread(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 §5: a 10,000-VM scan froze the window for seconds in one model reset that formatted every
    cell on the Qt thread. Now the rows are built by ``snapshot_rows`` on an executor thread and the model
    grows by ``CHUNK_ROWS`` per turn of the loop; the one reset only empties the table."""
    import threading

    from vmrestore.ui.snapshots import page as page_module

    built_on: list[threading.Thread] = []
    real = page_module.snapshot_rows

    def recording(rep: SnapshotReport | None) -> Any:
        built_on.append(threading.current_thread())
        return real(rep)

    monkeypatch.setattr(page_module, "snapshot_rows", recording)
    rep = _report_of(2 * page_module.CHUNK_ROWS + 7)
    page = SnapshotsPage(_settings(Role.ADMIN), scanner=OneReportScanner(rep), cleanup=FakeCleanup(), orphans=None)
    qtbot.addWidget(page)
    inserted: list[int] = []
    resets: list[int] = []
    page.model.rowsInserted.connect(lambda _parent, first, last: inserted.append(last - first + 1))
    page.model.modelReset.connect(lambda: resets.append(page.model.rowCount()))
    page.start_scan()
    await until(lambda: page.scan_button.isEnabled() and page.status.text() != "Scanning…", what="the scan")
    assert inserted == [page_module.CHUNK_ROWS, page_module.CHUNK_ROWS, 7]
    assert resets == [0]
    assert len(built_on) == 1 and built_on[0] is not threading.main_thread()
    assert page.proxy.rowCount() == len(rep.snapshots) and page.report is rep
    assert page.status.text().startswith(f"{len(rep.snapshots)} snapshot(s)")
    # The proxy's direct read (``sort_value``) is the sort role's value, cell for cell.
    model = page.model
    assert all(model.sort_value(r, c) == model.data(model.index(r, c), SortRole)
               for r in range(0, model.rowCount(), 37) for c in range(model.columnCount()))
    # Sorted on native values (sizes as ints).
    page.proxy.sort(COL_SIZE, Qt.SortOrder.DescendingOrder)
    assert page.proxy.data(page.proxy.index(0, COL_SIZE), SortRole) == max(s.size for s in rep.snapshots)
