"""The Instant recovery wizard and the instant VMs' section, over the real app services and the simulator.

Keyboard and buttons as a user drives them: the wizard offers the host's writable datastores and port
groups, its summary is the checked plan and its last button is named "Start <name>"; the section shows
the VM with its live state, Migrate… and Discard show their plan and act only from their own buttons.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QWizard

from tests.integration.instant.conftest import Bench, host_name
from tests.integration.instant.conftest import bench_factory as bench_factory
from tests.integration.instant.conftest import instant_repo as instant_repo
from tests.ui.conftest import until
from vmrestore.app.bootstrap import AppServices, build_services
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.ui.instant.section import DiscardDialog, InstantSection, MigrateDialog

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    """Set up first, torn down last (after the test's qasync loop closed): the app services keep the loop
    referenced through cycles, and a loop freed later by the garbage collector in a worker thread destroys
    qasync's timer object there ("Timers cannot be stopped from another thread")."""
    yield
    gc.collect()


@pytest.fixture
def live(bench_factory: Callable[..., Bench], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Bench, AppServices]]:
    bench = bench_factory(relocate_moves=True)
    monkeypatch.setenv("VMRESTORE_POLICY", bench.env["VMRESTORE_POLICY"])
    monkeypatch.delenv("VMRESTORE_CATALOG", raising=False)
    services = build_services(str(bench.home), secrets=MemorySecretStore())
    services.connection.open_blocking(bench.sim.url, bench.sim.username, bench.sim.password,
                                      thumbprint=bench.sim.thumbprint)
    yield bench, services
    with contextlib.suppress(Exception):
        services.close()


def _dialog(kind: type) -> Any:
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
    return found[0] if found else None


async def test_wizard_starts_then_section_migrates_and_discards(qtbot: Any, live: tuple[Bench, AppServices],
                                                                tmp_path: Path) -> None:
    bench, services = live
    section = InstantSection(services.instant, services.scheduler, refresh_ms=60_000)
    try:
        await _flow(section, bench, tmp_path)
    finally:
        await _dispose(section)


async def _flow(section: InstantSection, bench: Bench, tmp_path: Path) -> None:
    section.resize(1000, 600)
    section.show()

    wizard = section.open_wizard(bench.vmfs_point)
    await until(lambda: wizard.where.host.count() > 0 and wizard.where.point.currentData() is not None,
                timeout=20, what="points and hosts")
    assert wizard.where.point.currentData().id == bench.vmfs_point
    wizard.where.host.setCurrentIndex(wizard.where.host.findText(host_name(bench)))
    assert wizard.where.isComplete()
    wizard.next()
    await until(lambda: wizard.datastores.datastore.count() > 0, timeout=20, what="datastores")
    names = [wizard.datastores.datastore.itemData(i) for i in range(wizard.datastores.datastore.count())]
    assert sorted(names) == ["LocalDS_0", "LocalDS_1"]  # writable only: never the backup's NFS datastore
    wizard.datastores.datastore.setCurrentIndex(names.index("LocalDS_0"))
    wizard.next()
    assert wizard.network.isolated.isChecked() and not wizard.network.portgroup.isEnabled()
    assert "VM Network" in [wizard.network.portgroup.itemText(i) for i in range(wizard.network.portgroup.count())]
    wizard.next()
    assert wizard.name_page.name.text().startswith("web01-restored-")
    wizard.name_page.name.setText("web01-gui")
    wizard.next()
    await until(lambda: wizard.summary.plan is not None or "Cannot" in wizard.summary.text.text(), timeout=20,
                what="the plan")
    assert wizard.summary.plan is not None, wizard.summary.text.text()
    assert wizard.buttonText(QWizard.WizardButton.FinishButton) == "Start web01-gui"
    assert "LocalDS_0" in wizard.summary.text.text() and "isolated" in wizard.summary.text.text()
    assert "web01-gui" not in bench.vms(), "nothing is created before the named button"
    wizard.button(QWizard.WizardButton.FinishButton).click()
    await until(lambda: wizard.handle is not None and wizard.handle.is_finished, timeout=60, what="the start job")
    assert wizard.handle.error is None, wizard.handle.error
    assert bench.vms()["web01-gui"]["runtime.powerState"] == "poweredOn"

    await until(lambda: section.model.rowCount() == 1, timeout=20, what="the instant VM row")
    row = section.model.rows()[0]
    assert row.record.name == "web01-gui" and row.live["power"] == "poweredOn"
    assert "running" in row.state_text and "powered on" in row.state_text
    section.table.selectRow(0)
    assert section.migrate_button.isEnabled() and section.discard_button.isEnabled()
    section.grab().save(str(tmp_path / "section.png"))

    # Discard: its plan first, and only its own button acts.
    section.discard_button.click()
    await until(lambda: _dialog(DiscardDialog) is not None, timeout=20, what="the discard plan")
    dialog = _dialog(DiscardDialog)
    assert dialog.go.text() == "Discard web01-gui"
    plan_text = dialog.findChild(type(section.status), "discardPlan").text()
    assert "[LocalDS_0] web01-gui/" in plan_text and "web01.vmdk" in plan_text  # the backup disk: kept
    dialog.reject()
    await until(lambda: _dialog(DiscardDialog) is None, what="the dialog to close")
    assert "web01-gui" in bench.vms(), "Cancel discards nothing"

    # Migrate to the other datastore.
    section.migrate_button.click()
    await until(lambda: _dialog(MigrateDialog) is not None, timeout=20, what="the migrate dialog")
    dialog = _dialog(MigrateDialog)
    assert dialog.go.text() == "Migrate web01-gui"
    assert dialog.datastore.currentData() == "LocalDS_1"
    dialog.go.click()
    await until(lambda: section.model.rowCount() == 0, timeout=60, what="the migrated VM to leave the list")
    vm = bench.vms()["web01-gui"]
    assert vm["config.files.vmPathName"] == "[LocalDS_1] web01-gui/web01-gui.vmx"
    assert "done" in section.status.text()
    bench.assert_backup_untouched()


async def _dispose(*widgets: Any) -> None:
    """Delete the widgets on this (the GUI) thread: left to the garbage collector, a Qt object with timers
    could be destroyed in an executor thread ("Timers cannot be stopped from another thread")."""
    for w in widgets:
        w.close()
        w.deleteLater()
    await asyncio.sleep(0.05)
    gc.collect()


async def test_section_buttons_follow_role_and_connection(qtbot: Any) -> None:
    class Nothing:
        def list(self, **_: Any) -> list[Any]:
            return []

    section = InstantSection(Nothing(), object(), allowed=False, why_not="admin only", refresh_ms=60_000)  # type: ignore[arg-type]
    ok = InstantSection(Nothing(), object(), refresh_ms=60_000)  # type: ignore[arg-type]
    try:
        assert not section.start_button.isEnabled() and section.start_button.toolTip() == "admin only"
        ok.set_connected(False)
        assert not ok.start_button.isEnabled()
        ok.set_connected(True)
        assert ok.start_button.isEnabled() and not ok.migrate_button.isEnabled()
    finally:
        await _dispose(section, ok)


async def test_instant_recovery_from_a_restore_point_in_the_tree(qtbot: Any, live: tuple[Bench, AppServices],
                                                                 tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings

    from vmrestore.ui.main_window import MainWindow
    from vmrestore.ui.pages import default_area_pages
    from vmrestore.ui.restore import context

    bench, services = live
    window = MainWindow(services, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat),
                        area_pages=default_area_pages(services))
    try:
        window.resize(1024, 700)
        window.show()
        page: Any = window.pages["points"]
        await until(lambda: page.tree_model.point_index(bench.vmfs_point).isValid(), timeout=20,
                    what="the restore point in the tree")
        index = page.tree_model.point_index(bench.vmfs_point)
        page.tree.setCurrentIndex(index)
        menu = context.tree_menu(page, page.tree, page.tree_model)
        assert page.instant_action in menu.actions()
        page.instant_action.trigger()
        section = window.pages["mounts"].instant_section
        assert window.stack.currentWidget() is window.pages["mounts"]
        assert section.wizard is not None and section.wizard.isVisible()
        await until(lambda: section.wizard.where.point.currentData() is not None, timeout=20, what="points")
        assert section.wizard.where.point.currentData().id == bench.vmfs_point
        section.wizard.reject()
        menu.deleteLater()
    finally:
        await _dispose(window)


async def test_a_colleagues_instant_vm_is_listed_but_acted_on_there(qtbot: Any) -> None:
    """With a shared catalog the section lists colleagues' instant VMs (asked for with ``colleagues=True``),
    names where they were started, and offers Migrate/Discard only for this workstation's own."""
    from datetime import UTC, datetime

    from vmrestore.app.instant.records import InstantVm
    from vmrestore.engine.heartbeat import OwnerInfo
    from vmrestore.ui.instant.model import COL_STATE

    now = datetime.now(UTC)

    def record(instant_id: str, name: str, creator: OwnerInfo | None, colleague: bool) -> InstantVm:
        return InstantVm(id=instant_id, name=name, vm=f"vm-{instant_id}", point="main/web01/p1", host="host-1",
                         host_name="esx1", datastore="LocalDS_0", backup_datastore="vmrestore-ir-1",
                         mounted_by_us=True, network="isolated", state="running", started=now, updated=now,
                         creator=creator, colleague=colleague)

    alice = OwnerInfo(token="desk-a-1-x", workstation="DESK-A", user="alice", pid=1, started=now, heartbeat=now)
    asked: list[dict[str, Any]] = []

    class Shared:
        def list(self, **kwargs: Any) -> list[Any]:
            asked.append(kwargs)
            return [record("ir-mine", "mine-ir", None, False), record("ir-theirs", "theirs-ir", alice, True)]

        def live_state(self, rec: Any) -> dict[str, Any]:
            return {"power": "poweredOn", "tools": "unknown", "ip": None}

    section = InstantSection(Shared(), object(), refresh_ms=60_000)  # type: ignore[arg-type]
    try:
        section.set_connected(True)
        await section.reload()
        assert asked and asked[-1].get("colleagues") is True
        model = section.model
        texts = [model.data(model.index(r, COL_STATE)) for r in range(model.rowCount())]
        assert texts[1] == "running, powered on, started on DESK-A by alice" and "started on" not in texts[0]
        section.table.selectRow(1)
        assert not section.migrate_button.isEnabled() and not section.discard_button.isEnabled()
        assert section.discard_button.toolTip() == "Started on DESK-A (alice): migrate or discard it there"
        section.table.selectRow(0)
        assert section.migrate_button.isEnabled() and section.discard_button.isEnabled()
    finally:
        await _dispose(section)
