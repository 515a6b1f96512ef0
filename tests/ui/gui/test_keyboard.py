"""Every window works from the keyboard: one Alt+letter per control in each window, Tab leaves tables.

The check walks every widget of a window in each state the user sees (each area, each tab, each wizard
page) and asserts that no two visible controls claim the same mnemonic, and no two actions the same
shortcut. It found Alt+S twice on the Snapshots page and in the Connect dialog, Alt+F (File menu and
Refresh) and Alt+V (View menu and Versions…) on the Restore points page.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QApplication, QWizard

from tests.ui.conftest import until
from tests.ui.gui.conftest import open_window
from tests.ui.keyboard import (
    buttons_without_key,
    mnemonic_conflicts,
    mnemonic_of,
    mnemonics,
    shortcut_conflicts,
)
from vmrestore.ui.main_window import AREA_KEYS
from vmrestore.ui.settings import RepositoryDialog


def test_mnemonic_of() -> None:
    assert mnemonic_of("Re&fresh") == "f"
    assert mnemonic_of("Mounted disks && instant VMs") is None
    assert mnemonic_of("Save && &quit") == "q"


def assert_unique(window, state: str) -> None:
    assert mnemonic_conflicts(window) == {}, f"{state}: the same Alt+letter twice"
    assert shortcut_conflicts(window) == {}, f"{state}: the same shortcut twice"
    assert buttons_without_key(window) == [], f"{state}: buttons no key reaches"


@pytest.mark.asyncio
async def test_every_window_has_unique_mnemonics(qtbot, real_services, tmp_path, backup_repo) -> None:
    services = real_services()
    services.catalog.add_repository("main", str(backup_repo.root), None)
    window = await open_window(qtbot, services, tmp_path)
    checked = 0
    for key in AREA_KEYS:
        window.show_area(key)
        page = window.pages[key]
        tabs = getattr(page, "tabs", None)
        for index in range(tabs.count() if tabs is not None else 1):
            if tabs is not None:
                tabs.setCurrentIndex(index)
            assert_unique(window, f"main window, area {key}, tab {index}")
            checked += 1
    window.show_area("points")
    assert {"f", "v", "t", "h"} <= set(mnemonics(window))  # the menus themselves

    settings = window.tools.open_settings()
    for index in range(settings.tabs.count()):
        settings.tabs.setCurrentIndex(index)
        assert_unique(settings, f"settings tab {settings.tabs.tabText(index)}")
        checked += 1
    repo_dialog = settings.repositories.add()
    assert_unique(repo_dialog, "add repository")
    assert set(mnemonics(repo_dialog)) >= {"m", "f", "w", "x", "t", "d"}
    repo_dialog.reject()
    settings.reject()

    connect = window.open_connect_dialog()
    assert_unique(connect, "connect dialog")
    assert set(mnemonics(connect)) == {"s", "u", "p", "w", "c"}
    connect.reject()

    wizard = window.tools.open_first_run()
    assert_unique(wizard, "first run, connect page")
    wizard.next()
    await until(lambda: wizard.currentId() == 1, what="the repository page")
    assert_unique(wizard, "first run, repository page")
    wizard.repository_page.added = object()  # as after a successful Next: the last page
    wizard.next()
    await until(lambda: wizard.currentId() == 2, what="the index page")
    assert_unique(wizard, "first run, index page")
    wizard.reject()
    assert checked >= len(AREA_KEYS) + 6


@pytest.mark.asyncio
async def test_tab_leaves_every_table(qtbot, real_services, tmp_path) -> None:
    services = real_services()
    window = await open_window(qtbot, services, tmp_path)
    views = window.findChildren(QAbstractItemView)
    assert views and not [v.objectName() for v in views if v.tabKeyNavigation()]
    window.show_area("points")
    page = window.pages["points"]
    page.focus_search()
    page.search.table.setFocus()
    await until(page.search.table.hasFocus, what="focus in the search results")
    qtbot.keyClick(page.search.table, Qt.Key.Key_Tab)
    assert not page.search.table.hasFocus()
    settings = window.tools.open_settings()
    assert not [v for v in settings.findChildren(QAbstractItemView) if v.tabKeyNavigation()]
    settings.reject()


@pytest.mark.asyncio
async def test_first_run_repository_page_has_no_alt_b_clash(qtbot, real_services, tmp_path) -> None:
    """The wizard's "< Back" owns Alt+B, so the form's Browse is Bro&wse…; Next owns Alt+N, so Na&me."""
    services = real_services()
    window = await open_window(qtbot, services, tmp_path)
    wizard = window.tools.open_first_run()
    wizard.next()
    await until(lambda: wizard.currentId() == 1, what="the repository page")
    claimed = mnemonics(wizard)
    assert len(claimed["b"]) == 1 and "Back" in claimed["b"][0]
    assert len(claimed["n"]) == 1 and "Next" in claimed["n"][0]
    assert isinstance(wizard, QWizard) and QApplication.instance() is not None
    wizard.reject()
    assert RepositoryDialog is not None


@pytest.mark.asyncio
async def test_restore_and_versions_dialogs_have_unique_keys(qtbot, real_services, tmp_path, backup_repo) -> None:
    from tests.ui.restore.conftest import index_repository
    from vmrestore.ui.restore.restore_flow import RestoreDialog
    from vmrestore.ui.restore.versions import VersionsDialog

    services = real_services()
    services.catalog.add_repository("main", str(backup_repo.root), None)
    index_repository(services)
    window = await open_window(qtbot, services, tmp_path)
    page = window.pages["points"]
    await until(lambda: page.tree_model.vm_names(), what="the restore points")
    newest = services.catalog.points("web01")[0].id
    docs = "/disk0/vol1/Users/alice/Documents"
    assert await page.reveal(newest, docs, f"{docs}/Q3-report.xlsx")
    await until(lambda: page.selected_items(), what="the file to be selected")
    versions = page.show_versions()
    assert isinstance(versions, VersionsDialog)
    assert_unique(versions, "versions dialog")
    versions.reject()
    page.restore_selected()
    await until(lambda: [d for d in page.findChildren(RestoreDialog) if d.isVisible()], what="the restore dialog")
    dialog = next(d for d in page.findChildren(RestoreDialog) if d.isVisible())
    assert_unique(dialog, "restore dialog")
    assert sorted(mnemonics(dialog)) == ["b", "k", "o", "r", "s"]  # Browse, Keep both, Overwrite, Restore, Skip
    dialog.reject()


@pytest.mark.asyncio
async def test_context_menus_have_unique_letters(qtbot, real_services, tmp_path, backup_repo) -> None:
    from collections import Counter

    from tests.ui.restore.conftest import index_repository
    from vmrestore.ui.restore import context

    services = real_services()
    services.catalog.add_repository("main", str(backup_repo.root), None)
    index_repository(services)
    window = await open_window(qtbot, services, tmp_path)
    page = window.pages["points"]
    await until(lambda: page.tree_model.vm_names(), what="the restore points")
    page.tree.setCurrentIndex(page.tree_model.point_index(services.catalog.points("web01")[0].id))
    menus = {"tree": context.tree_menu(page, page.tree, page.tree_model), "table": context.table_menu(page),
             "search": context.search_menu(page)}
    for name, menu in menus.items():
        letters = [mnemonic_of(a.text()) for a in menu.actions() if not a.isSeparator()]
        assert None not in letters, f"{name} menu: an entry without a letter"
        assert [k for k, n in Counter(letters).items() if n > 1] == [], f"{name} menu: {letters}"
