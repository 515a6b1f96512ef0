"""“Restore into VM…” and the Mounted page, with the real app services against the simulator.

The wizard and the page run on the qasync loop; the jobs they submit hot-add a real (vmfs) backup disk
through pyVmomi, and the bench's scripted guest (a SOAP-level extension) answers VMware Tools. We assert on
what the simulator holds afterwards and on what the guest was asked to run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from tests.bench.diskfactory import DiskFactory
from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.hotadd.hotadd_helpers import (
    EXPORT,
    GUEST_PASSWORD,
    GUEST_USER,
    ROBOCOPY_SUMMARY,
    TARGET,
    Cli,
    build_repo,
    digest,
    env_of,
    probe,
    setup_catalog,
    starts,
    world,
)
from tests.ui.conftest import until
from vmrestore.app.bootstrap import build_services
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.ui.main_window import MainWindow
from vmrestore.ui.mounts.page import MountedPage
from vmrestore.ui.pages import default_area_pages
from vmrestore.ui.restore_vm.wizard import PAGE_METHOD, PAGE_OPTIONS, PAGE_PLAN, RestoreIntoVmWizard

pytestmark = [pytest.mark.asyncio, pytest.mark.vcsim, pytest.mark.disktools, pytest.mark.slow]

SHOTS = os.environ.get("VMRESTORE_SCREENSHOT_DIR")


def _shot(widget: Any, name: str) -> None:
    """Save a 1024x700 picture of ``widget`` when VMRESTORE_SCREENSHOT_DIR is set (docs/screenshots)."""
    if SHOTS:
        widget.resize(1024, 700)
        widget.grab().save(str(Path(SHOTS) / name))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repo(DiskFactory(), tmp_path_factory.mktemp("backups") / "repo")


@pytest.fixture
def app(repo: Path, vcsim_factory: VcsimFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    before = digest(repo)
    sim = vcsim_factory(standalone_host=1, tools_running=True, nas={EXPORT: str(repo)})
    sim.guest_script([{"when": {"VMR_DEST": "C:\\Restore"}, "exit": 1, "output": ROBOCOPY_SUMMARY}],
                     password=GUEST_PASSWORD)
    cli = Cli(tmp_path / "home", sim)
    points = setup_catalog(cli, repo)
    monkeypatch.setenv("VMRESTORE_CATALOG", str(cli.home / "catalog.sqlite"))
    monkeypatch.setenv("VMRESTORE_GUEST_USERNAME", GUEST_USER)
    monkeypatch.delenv("VMRESTORE_GUEST_PASSWORD", raising=False)
    services = build_services(str(cli.home), secrets=MemorySecretStore())
    services.connection.open_blocking(sim.url, sim.username, sim.password, thumbprint=sim.thumbprint)
    yield services, sim, points, tmp_path
    services.close()
    assert digest(repo) == before


def _next(wizard: RestoreIntoVmWizard, page: int) -> None:
    wizard.next_button.click()
    assert wizard.stack.currentIndex() == page


async def test_hot_add_wizard_then_mounted_page_unmounts(app: Any, qtbot: QtBot, ui_settings: Any) -> None:
    services, sim, points, tmp = app
    with probe(sim, tmp) as session:
        empty = world(session)
    point = services.catalog.point(points["FS01"])
    wizard = RestoreIntoVmWizard(services, point, ["/disk0/vol1/Users/alice/Documents"])
    qtbot.addWidget(wizard)
    wizard.show()
    await until(lambda: wizard.vm_model.rowCount() > 0, 20, "the VM list")
    wizard.vm_search.setText(TARGET)
    wizard.vm_list.setCurrentIndex(wizard.vm_proxy.index(0, 0))
    _shot(wizard, "restore-into-vm-1-target.png")
    _next(wizard, PAGE_METHOD)
    assert wizard.hotadd_radio.isEnabled() and wizard.hot_add
    assert "vmfs" in wizard.method_reason.text()
    _shot(wizard, "restore-into-vm-2-method.png")
    _next(wizard, PAGE_OPTIONS)
    wizard.letter_combo.setCurrentIndex(wizard.letter_combo.findData("R"))
    wizard.password_edit.setText(GUEST_PASSWORD)
    _next(wizard, PAGE_PLAN)
    assert wizard.action_button.text().replace("&", "") == f"Mount R: on {TARGET}"
    assert "read-only" in wizard.plan_label.text()
    _shot(wizard, "restore-into-vm-3-plan.png")
    wizard.action_button.click()
    await until(lambda: wizard.session is not None or "Failed" in wizard.run_label.text(), 60, "the mount")
    assert wizard.session is not None, wizard.run_label.text()
    assert wizard.session.letter == "R" and "Mounted as R:" in wizard.run_label.text()
    _shot(wizard, "restore-into-vm-4-done.png")

    wizard.copy_button.click()
    await until(lambda: "Copied inside" in wizard.run_label.text(), 60, "the copy")
    assert "2 file(s)" in wizard.run_label.text()
    assert env_of(starts(sim)[-1])["VMR_SRC_0"] == "Users\\alice\\Documents"

    window = MainWindow(services, ui_settings, area_pages=default_area_pages(services))
    qtbot.addWidget(window)
    window.show()
    page = window.pages["mounts"]
    assert isinstance(page, MountedPage)
    await until(lambda: page.model.rowCount() == 1, 10, "the mount in the list")

    # Quitting with a live mount asks; "Show the mounted disks" keeps the window and opens the page.
    window.close()
    box = window.findChild(QMessageBox, "confirmKeepMounts")
    assert box is not None and box.isVisible() and window.isVisible()
    assert "DC0_H0_VM0" in box.text()
    next(b for b in box.buttons() if "Show" in b.text()).click()
    await until(lambda: window.stack.currentWidget() is page, 5, "the Mounted page")
    page.table.selectRow(0)
    assert page.unmount_button.isEnabled()
    _shot(page, "mounted-page.png")
    page.unmount_button.click()
    await until(lambda: getattr(page, "confirm_box", None) is not None and page.confirm_box.isVisible(), 5,
                "the confirmation")
    confirm = next(b for b in page.confirm_box.buttons() if b.text().startswith("Unmount"))
    assert confirm.text() == f"Unmount R: from {TARGET}"
    confirm.click()
    await until(lambda: page.model.rowCount() == 0, 60, "the unmount")
    with probe(sim, tmp) as session:
        assert world(session) == empty
    assert GUEST_PASSWORD not in str(sim.guest_record())
    window.close()  # nothing mounted any more: no question
    assert not window.isVisible()


async def test_hosted_format_goes_to_guest_copy_with_the_reason(app: Any, qtbot: QtBot) -> None:
    services, sim, points, _ = app
    point = services.catalog.point(points["H-monolithicSparse"])
    wizard = RestoreIntoVmWizard(services, point, ["/disk0/vol1/Users/bob/b.txt"])
    qtbot.addWidget(wizard)
    wizard.show()
    await until(lambda: wizard.vm_model.rowCount() > 0, 20, "the VM list")
    wizard.vm_search.setText(TARGET)
    wizard.vm_list.setCurrentIndex(wizard.vm_proxy.index(0, 0))
    _next(wizard, PAGE_METHOD)
    assert not wizard.hotadd_radio.isEnabled() and wizard.push_radio.isChecked()
    assert "monolithicSparse" in wizard.method_reason.text() and "cannot be hot-added" in wizard.method_reason.text()
    _shot(wizard, "restore-into-vm-guest-copy-method.png")
    _next(wizard, PAGE_OPTIONS)
    wizard.password_edit.setText(GUEST_PASSWORD)
    _next(wizard, PAGE_PLAN)
    assert wizard.action_button.text().replace("&", "") == f"Copy 1 item(s) into {TARGET}"
    wizard.action_button.click()
    await until(lambda: "copied into" in wizard.run_label.text() or "Failed" in wizard.run_label.text(), 60,
                "the guest copy")
    assert "1 file(s) copied" in wizard.run_label.text(), wizard.run_label.text()
    uploads = [r for r in sim.guest_record() if r["op"] == "upload"]
    assert [(u["path"], u["content"]) for u in uploads] == [("C:\\Restore\\b.txt", "bob\n")]
