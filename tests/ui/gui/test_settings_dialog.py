"""Tools › Settings… over the real services: repositories, validation, persistence, helpdesk greyed out.

Driven with the keyboard where a user would (Ctrl+, to open, Alt+letters for buttons); results are read back
from the catalog, the settings file and the audit log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.bench.disk_fixtures import BackupRepo
from tests.ui.conftest import until
from tests.ui.gui.conftest import open_window
from vmrestore.ui.settings import RepositoryDialog, SettingsDialog

pytestmark = pytest.mark.asyncio

ALT = Qt.KeyboardModifier.AltModifier


def visible(kind: type) -> list:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]


async def open_settings(qtbot, window) -> SettingsDialog:
    qtbot.keyClick(window.nav, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    await until(lambda: visible(SettingsDialog), what="the settings dialog")
    dialog = visible(SettingsDialog)[0]
    await until(dialog.isActiveWindow, what="the settings dialog to be active")
    return dialog


async def reactivate(window) -> None:
    """What the window manager does when a child dialog closes (the offscreen platform does not)."""
    window.activateWindow()
    await until(window.isActiveWindow, what=f"{window.objectName()} to be active again")


def press(qtbot, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """A key press where the user's focus is (shortcuts and mnemonics of the active window)."""
    qtbot.keyClick(QApplication.focusWidget(), key, modifier)


async def test_add_test_edit_remove_a_repository_with_keys(qtbot, real_services, tmp_path, backup_repo: BackupRepo
                                                           ) -> None:
    services = real_services()
    window = await open_window(qtbot, services, tmp_path)
    dialog = await open_settings(qtbot, window)
    assert dialog.tabs.currentIndex() == 0
    press(qtbot, Qt.Key.Key_D, ALT)  # A&dd…
    await until(lambda: visible(RepositoryDialog), what="the repository dialog")
    add = visible(RepositoryDialog)[0]
    await until(add.isActiveWindow, what="the repository dialog to be active")
    assert add.form.name_edit.hasFocus()
    qtbot.keyClicks(add.form.name_edit, "main")
    qtbot.keyClick(add.form.name_edit, Qt.Key.Key_Tab)
    assert add.form.path_edit.hasFocus()
    qtbot.keyClicks(add.form.path_edit, str(backup_repo.root))
    press(qtbot, Qt.Key.Key_T, ALT)  # &Test
    await until(lambda: add.form.last_check is not None, what="the folder test")
    assert add.form.result_label.text().startswith("✔ Readable: 5 restore point(s) of 2 VM(s)")
    qtbot.keyClick(add.form.path_edit, Qt.Key.Key_Return)  # the default button: Add repository
    await until(lambda: not visible(RepositoryDialog), what="the repository to be added")
    assert [r.name for r in services.catalog.store.list_repositories()] == ["main"]
    await until(lambda: dialog.repositories.table.rowCount() == 1, what="the table")
    assert dialog.repositories.table.item(0, 1).text() == str(backup_repo.root.resolve())

    # Edit: a bad NFS export is refused inline and saves nothing; a good one is saved.
    await reactivate(dialog)
    press(qtbot, Qt.Key.Key_E, ALT)  # &Edit…
    await until(lambda: visible(RepositoryDialog), what="the edit dialog")
    edit = visible(RepositoryDialog)[0]
    await until(edit.isActiveWindow, what="the edit dialog to be active")
    assert not edit.form.name_edit.isEnabled()
    edit.form.nfs_edit.setFocus()
    qtbot.keyClicks(edit.form.nfs_edit, "nas01")
    qtbot.keyClick(edit.form.nfs_edit, Qt.Key.Key_Return)
    await until(lambda: edit.error_label.text(), what="the refusal")
    assert "host:/export" in edit.error_label.text()
    assert services.catalog.repository("main").nfs is None
    qtbot.keyClicks(edit.form.nfs_edit, ":/volume1/backups")
    qtbot.keyClick(edit.form.nfs_edit, Qt.Key.Key_Return)
    await until(lambda: not visible(RepositoryDialog), what="the edit to be saved")
    assert services.catalog.repository("main").nfs == "nas01:/volume1/backups"

    # Remove: the confirmation names the action; Cancel keeps it, "Remove main" forgets it.
    task = dialog.repositories._tasks.spawn(dialog.repositories.remove(services.catalog.repository("main")))
    await until(lambda: [b for b in visible(QMessageBox) if b.objectName() == "confirmRemoveRepository"],
                what="the confirmation")
    box = next(b for b in visible(QMessageBox) if b.objectName() == "confirmRemoveRepository")
    assert "backup files are not touched" in box.text()
    await until(box.isActiveWindow, what="the confirmation to be active")
    press(qtbot, Qt.Key.Key_R, ALT)
    assert await task is True
    assert services.catalog.store.list_repositories() == []
    assert backup_repo.root.is_dir()
    audit = [json.loads(line) for line in Path(services.paths.audit_log).read_text().splitlines()]
    assert [(e["action"], e["target"], e["result"]) for e in audit] == [("repo_add", "main", "ok")] * 3


async def test_invalid_settings_save_nothing_and_point_at_the_field(qtbot, real_services, tmp_path) -> None:
    services = real_services()
    window = await open_window(qtbot, services, tmp_path)
    dialog = await open_settings(qtbot, window)
    dialog.lease_spin.setValue(12)
    dialog.patterns_edit.setPlainText("ghettoVCB-snapshot-*\n*")
    dialog.tabs.setCurrentIndex(0)
    changed = await dialog.save(close=False)
    assert changed is None
    assert "every snapshot" in dialog.error_label.text()
    assert dialog.tabs.currentWidget().isAncestorOf(dialog.patterns_edit) and dialog.patterns_edit.hasFocus()
    assert not Path(services.paths.settings_file).exists()  # nothing written, not even the good lease
    dialog.patterns_edit.setPlainText("ghettoVCB-snapshot-*\nVEEAM BACKUP TEMPORARY SNAPSHOT")
    assert await dialog.save(close=False) == ["default_lease_hours", "leftover_patterns"]
    saved = json.loads(Path(services.paths.settings_file).read_text())
    assert saved["default_lease_hours"] == 12
    assert saved["leftover_patterns"] == ["ghettoVCB-snapshot-*", "VEEAM BACKUP TEMPORARY SNAPSHOT"]
    assert dialog.error_label.text() == ""


async def test_helpdesk_sees_admin_entries_greyed_with_the_reason(qtbot, real_services, tmp_path, backup_repo
                                                                  ) -> None:
    services = real_services(role="helpdesk")
    services.catalog.add_repository("main", str(backup_repo.root), None)
    window = await open_window(qtbot, services, tmp_path)
    dialog = await open_settings(qtbot, window)
    await until(lambda: dialog.repositories.table.rowCount() == 1, what="the table")
    tab = dialog.repositories
    tab.table.selectRow(0)
    assert not tab.add_button.isEnabled() and not tab.edit_button.isEnabled() and not tab.remove_button.isEnabled()
    assert tab.test_button.isEnabled()  # reading a folder is not an admin action
    assert "Only a vmrestore admin can change this. Your role is helpdesk" in tab.add_button.toolTip()
    assert "policy.json" in dialog.reason
    for widget in (dialog.catalog_edit, dialog.watch_spin, dialog.patterns_edit, dialog.lease_spin):
        assert not widget.isEnabled()
    dialog.tabs.setCurrentIndex(4)
    reasons = [w for w in dialog.tabs.currentWidget().findChildren(type(dialog.error_label))
               if w.objectName() == "adminOnlyReason"]
    assert reasons and reasons[0].isVisible() and "helpdesk" in reasons[0].text()
    # The appearance is a personal choice: helpdesk may change it, and it is applied at once.
    dialog.appearance_combo.setCurrentIndex(dialog.appearance_combo.findData("dark"))
    applied: list[str] = []
    dialog.appearanceChanged.connect(applied.append)
    assert await dialog.save(close=True) == ["appearance"]
    assert applied == ["dark"]
    assert json.loads(Path(services.paths.settings_file).read_text())["appearance"] == "dark"
    assert QApplication.instance().palette().window().color().lightness() < 100
    window.tools.apply_appearance("light")


async def test_cleanup_minimum_age_is_a_setting_the_cleanup_reads(qtbot, real_services, tmp_path) -> None:
    services = real_services()
    window = await open_window(qtbot, services, tmp_path)
    dialog = await open_settings(qtbot, window)
    assert dialog.min_age_spin.value() == 24  # the default guard
    dialog.min_age_spin.setValue(6)
    assert await dialog.save(close=True) == ["snapshot_cleanup_min_age_hours"]
    saved = json.loads(Path(services.paths.settings_file).read_text())
    assert saved["snapshot_cleanup_min_age_hours"] == 6
    assert services.snapshots.cleanup.settings.snapshot_cleanup_min_age_hours == 6  # the same settings object


async def test_restore_page_offers_the_gui_path_to_a_first_repository(qtbot, real_services, tmp_path) -> None:
    services = real_services()
    window = await open_window(qtbot, services, tmp_path)
    page = window.pages["points"]
    await until(lambda: page.reloads > 0, what="the restore points page")
    assert page.add_repo_button.isVisible()
    assert "vmrestore repo add" not in page.status.text() and "Add a repository…" in page.status.text()
    page.tree.setFocus()
    press(qtbot, Qt.Key.Key_D, ALT)  # A&dd a repository…
    await until(lambda: visible(RepositoryDialog), what="the add dialog, over Settings › Repositories")
    assert visible(SettingsDialog) and visible(SettingsDialog)[0].tabs.currentIndex() == 0
    visible(RepositoryDialog)[0].reject()
    visible(SettingsDialog)[0].reject()
