"""The user guide's screenshots, taken from the real app at 1024x700 (run it under Xvfb).

    xvfb-run -a -s "-screen 0 1024x700x24" .venv/bin/python scripts/screenshots.py docs/screenshots/guide

Everything is real: a ghettoVCB repository built by the disk bench (real NTFS/FAT32/ext4 volumes in real
VMDKs: web01 with 3 restore points, db01 with 2) in a temporary folder, the app started by the real
composition root in an empty temporary ``VMRESTORE_HOME`` (so the first run appears), the repository added
and indexed through the first-run pages, a folder restored through "Restore to this computer…". With
``--vcsim`` the bench's vCenter simulator is started too and the first run connects to it (thumbprint
prompt included). Each shot is the whole 1024x700 screen, the main window maximised to it, as a helpdesk
user on a small laptop screen would see it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QWidget

from tests.bench.disk_fixtures import REPO_LAYOUT
from tests.bench.diskfactory import DiskFactory, make_repository
from vmrestore.ui.application import run_gui
from vmrestore.ui.main_window import MainWindow

WIDTH, HEIGHT = 1024, 700


async def settle(seconds: float = 0.5) -> None:
    await asyncio.sleep(seconds)


async def until(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Shooter:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.saved: list[Path] = []

    async def shot(self, name: str, wait: float = 0.5) -> None:
        await settle(wait)
        pixmap = QGuiApplication.primaryScreen().grabWindow(0)
        path = self.out / f"{name}.png"
        if not pixmap.save(str(path), "PNG"):
            raise SystemExit(f"could not write {path}")
        self.saved.append(path)
        print(f"saved {path} ({pixmap.width()}x{pixmap.height()})", file=sys.stderr)


def visible(kind: type) -> list[Any]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--vcsim", action="store_true", help="connect to the bench's vCenter simulator")
    parser.add_argument("--snapshots", action="store_true",
                        help="instead: the Snapshots page and the cleanup wizard on a simulator with snapshots")
    parser.add_argument("--helpdesk", action="store_true",
                        help="instead: Settings as helpdesk sees it (admin-only entries greyed, with the reason)")
    args = parser.parse_args()
    if args.snapshots:
        return snapshots_tour(args.out.resolve())
    if args.helpdesk:
        return helpdesk_tour(args.out.resolve())
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vmrestore-guide-"))
    os.environ["VMRESTORE_HOME"] = str(work / "home")
    os.environ["VMRESTORE_POLICY"] = str(work / "policy.json")
    os.environ.pop("VMRESTORE_CATALOG", None)
    repo_root = work / "Backups"
    make_repository(DiskFactory(), repo_root, REPO_LAYOUT)
    restored = work / "Restored files"
    sim = _start_vcsim(work) if args.vcsim else None
    shooter = Shooter(out)

    async def on_ready(window: MainWindow) -> None:
        try:
            await _tour(window, shooter, repo_root, restored, sim)
        finally:
            window.close()

    from vmrestore.app.bootstrap import build_services

    try:
        return run_gui(build_services, [sys.argv[0]], on_ready=on_ready)
    finally:
        if sim is not None:
            sim.stop()


def _start_vcsim(work: Path) -> Any:
    from tests.bench.vcsim.build import vcsim_binary
    from tests.bench.vcsim_fixtures import Vcsim, _options_to_args

    workdir = work / "vcsim"
    workdir.mkdir()
    sim = Vcsim(binary=vcsim_binary(), workdir=str(workdir), args=_options_to_args(standalone_host=1))
    sim.start()
    return sim


async def _tour(window: MainWindow, shooter: Shooter, repo_root: Path, restored: Path, sim: Any) -> None:
    from vmrestore.ui.cert_dialogs import ThumbprintPrompt
    from vmrestore.ui.connect_dialog import ConnectDialog
    from vmrestore.ui.first_run import FirstRunWizard
    from vmrestore.ui.restore.restore_flow import RestoreDialog
    from vmrestore.ui.settings import SettingsDialog

    window.setGeometry(0, 0, WIDTH, HEIGHT)
    services = window._services
    # -- first run --------------------------------------------------------------------------------
    await until(lambda: visible(FirstRunWizard), what="the first run")
    wizard: FirstRunWizard = visible(FirstRunWizard)[0]
    await shooter.shot("first-run-1-connect")
    if sim is not None:
        wizard.connect_page.connect_button.click()
        await until(lambda: visible(ConnectDialog), what="the connect dialog")
        dialog: ConnectDialog = visible(ConnectDialog)[0]
        dialog.url_edit.setText(sim.url.replace("/sdk", ""))
        dialog.user_edit.setText("administrator@vsphere.local")
        dialog.password_edit.setText(sim.password)
        await shooter.shot("connect")
        dialog.start_connect()
        await until(lambda: visible(ThumbprintPrompt), what="the thumbprint prompt")
        await shooter.shot("connect-thumbprint")
        visible(ThumbprintPrompt)[0].trust_button.click()
        await until(lambda: services.connection.identity is not None, what="the login")
        await shooter.shot("first-run-1-connected")
    wizard.next()
    await until(lambda: wizard.currentId() == 1, what="the repository page")
    form = wizard.repository_page.form
    form.name_edit.setText("nas01-backups")
    form.path_edit.setText(str(repo_root))
    form.nfs_edit.setText("nas01.corp.example:/volume1/backups")
    await form.test()
    await shooter.shot("first-run-2-repository")
    wizard.next()
    await until(lambda: wizard.currentId() == 2, what="the index page")
    handle_done = asyncio.get_running_loop().create_future()
    wizard.indexDone.connect(lambda h: handle_done.done() or handle_done.set_result(h))
    await asyncio.wait_for(handle_done, 120)
    await shooter.shot("first-run-3-index")
    wizard.accept()

    # -- browse, restore --------------------------------------------------------------------------
    page = window.pages["points"]
    await until(lambda: page.tree_model.vm_names(), what="the restore points")
    newest = services.catalog.points("web01")[0]
    docs = "/disk0/vol1/Users/alice"
    await page.reveal(newest.id, docs)
    page.tree.setFocus()
    await shooter.shot("restore-browse")
    menu_shown = _open_tree_menu(page)
    if menu_shown is not None:
        await shooter.shot("restore-tree-menu")
        menu_shown.close()
    page.restore_selected() if not hasattr(page, "restore_from_tree") else page.restore_from_tree()
    await until(lambda: visible(RestoreDialog), what="the restore dialog")
    restore_dialog = visible(RestoreDialog)[0]
    restore_dialog.target_edit.setText(str(restored))
    await shooter.shot("restore-dialog")
    results: list[Any] = []
    page.restoreFinished.connect(results.append)
    restore_dialog.buttons.button(restore_dialog.buttons.StandardButton.Ok).click()
    await until(lambda: results, what="the restore")
    await shooter.shot("restore-done")
    for box in visible(QMessageBox):
        box.accept()

    # -- search -----------------------------------------------------------------------------------
    page.focus_search()
    page.search.pattern_edit.setText("report")
    await page.search.search()
    page.search.table.selectRow(0)
    await shooter.shot("restore-search")
    menu = _open_search_menu(page)
    if menu is not None:
        await shooter.shot("restore-search-menu")
        menu.close()

    # -- settings, about, jobs, audit -------------------------------------------------------------
    settings = window.tools.open_settings()
    await until(lambda: settings.repositories.table.rowCount() == 1, what="the repositories tab")
    await shooter.shot("settings-repositories")
    settings.tabs.setCurrentIndex(3)
    await shooter.shot("settings-snapshots")
    settings.reject()
    await until(lambda: not visible(SettingsDialog), what="settings to close")
    about = window.show_about()
    await shooter.shot("about")
    about.close()
    window.show_area("jobs")
    await shooter.shot("jobs")
    window.show_area("audit")
    await shooter.shot("audit", wait=1.0)
    window.show_area("points")


def snapshots_tour(out: Path) -> int:
    """The Snapshots page on a simulator with real snapshot trees, backup leftovers and an orphaned delta
    (the world of tests/ui/snapshots/screenshot_snapshots.py), then the cleanup wizard up to its plan."""
    from tests.ui.snapshots.screenshot_cleanup import build_world

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vmrestore-guide-snap-"))
    home = work / "home"
    home.mkdir()
    # The simulator's snapshots are seconds old: the 24 h guard is off for the pictures (the running backup
    # task still holds one back, which is what "Not offered" shows).
    (home / "settings.json").write_text(json.dumps({"first_run_done": True, "snapshot_cleanup_min_age_hours": 0}))
    os.environ["VMRESTORE_HOME"] = str(home)
    os.environ["VMRESTORE_POLICY"] = str(work / "policy.json")
    from tests.bench.vcsim.build import vcsim_binary
    from tests.bench.vcsim_fixtures import Vcsim, _options_to_args

    sim = Vcsim(binary=vcsim_binary(), workdir=str(work), args=_options_to_args(cluster=1, host=2, vm=3, ds=1))
    sim.start()
    shooter = Shooter(out)
    from vmrestore.app.bootstrap import AppServices, build_services
    from vmrestore.app.secrets import MemorySecretStore

    def services() -> AppServices:
        built = build_services(secrets=MemorySecretStore())
        built.connection.open_blocking(sim.url, "administrator@vsphere.local", sim.password,
                                       thumbprint=sim.thumbprint)
        return built

    async def on_ready(window: MainWindow) -> None:
        try:
            window.setGeometry(0, 0, WIDTH, HEIGHT)
            window.show_area("snapshots")
            page: Any = window.pages["snapshots"]
            page.start_scan()
            await until(lambda: page.report is not None and page.scan_button.isEnabled(), what="the scan")
            proxy = page.proxy
            rows = [r for r in range(proxy.rowCount()) if proxy.index(r, 1).data() == "before-upgrade"]
            page.table.selectRow(rows[0] if rows else 0)
            await shooter.shot("snapshots", wait=0.8)
            wizard = page.open_wizard()
            if wizard is not None:
                wizard.criteria_page.use_age.setChecked(False)  # seconds-old snapshots: no age condition
                await shooter.shot("cleanup-1-criteria")
                wizard.next()  # the plan (what --dry-run prints); only its own button removes anything
                await until(lambda: wizard.plan_page.dry is not None, what="the cleanup plan")
                await shooter.shot("cleanup-2-plan", wait=0.8)
                wizard.reject()
        finally:
            window.close()

    try:
        build_world(sim, str(work))
        return run_gui(services, [sys.argv[0]], on_ready=on_ready)
    finally:
        sim.stop()


def helpdesk_tour(out: Path) -> int:
    """Settings for a workstation whose policy.json says helpdesk: what is greyed out, and why."""
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vmrestore-guide-helpdesk-"))
    home = work / "home"
    home.mkdir()
    (home / "settings.json").write_text(json.dumps({"first_run_done": True}))
    (work / "policy.json").write_text(json.dumps({"role": "helpdesk"}))
    os.environ["VMRESTORE_HOME"] = str(home)
    os.environ["VMRESTORE_POLICY"] = str(work / "policy.json")
    os.environ.pop("VMRESTORE_CATALOG", None)
    repo_root = work / "Backups"
    make_repository(DiskFactory(), repo_root, REPO_LAYOUT)
    from vmrestore.app.bootstrap import build_services

    setup = build_services()
    setup.catalog.add_repository("nas01-backups", str(repo_root), "nas01.corp.example:/volume1/backups")
    setup.close()
    shooter = Shooter(out)

    async def on_ready(window: MainWindow) -> None:
        try:
            window.setGeometry(0, 0, WIDTH, HEIGHT)
            settings = window.tools.open_settings()
            await until(lambda: settings.repositories.table.rowCount() == 1, what="the repositories tab")
            settings.repositories.table.selectRow(0)
            await shooter.shot("settings-helpdesk-repositories")
            settings.tabs.setCurrentIndex(4)
            await shooter.shot("settings-helpdesk-leases")
            settings.reject()
        finally:
            window.close()

    return run_gui(build_services, [sys.argv[0]], on_ready=on_ready)


def _open_tree_menu(page: Any) -> QMenu | None:
    tree: QWidget = page.tree
    if tree.contextMenuPolicy() != Qt.ContextMenuPolicy.CustomContextMenu:
        return None
    rect = page.tree.visualRect(page.tree.currentIndex())
    page.tree.customContextMenuRequested.emit(rect.center())
    menus = [m for m in page.findChildren(QMenu) if m.isVisible()]
    return menus[-1] if menus else None


def _open_search_menu(page: Any) -> QMenu | None:
    table = page.search.table
    if table.contextMenuPolicy() != Qt.ContextMenuPolicy.CustomContextMenu:
        return None
    rect = table.visualRect(table.currentIndex())
    table.customContextMenuRequested.emit(rect.center() if rect.isValid() else QPoint(40, 40))
    menus = [m for m in page.findChildren(QMenu) if m.isVisible()]
    return menus[-1] if menus else None


if __name__ == "__main__":
    sys.exit(main())
