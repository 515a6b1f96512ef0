"""The first run's rules: when it shows, what a refusal looks like, what helpdesk sees; pinned certificates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import until
from tests.ui.gui.conftest import open_window
from vmrestore.ui.first_run import FirstRunWizard, first_run_needed

pytestmark = pytest.mark.asyncio


async def test_shown_only_while_nothing_is_set_up(real_services, backup_repo) -> None:
    services = real_services()
    assert await first_run_needed(services) is True
    services.catalog.add_repository("main", str(backup_repo.root), None)
    assert await first_run_needed(services) is False  # an admin set the catalog up already
    services.catalog.remove_repository("main")
    services.settings.first_run_done = True
    assert await first_run_needed(services) is False


async def test_bad_repository_is_refused_inline_and_nothing_is_added(qtbot, real_services, tmp_path) -> None:
    services = real_services()
    window = await open_window(qtbot, services, tmp_path)
    wizard = window.tools.open_first_run()
    wizard.next()
    await until(lambda: wizard.currentId() == 1, what="the repository page")
    page = wizard.repository_page
    page.form.name_edit.setText("nas01")
    page.form.path_edit.setText(str(tmp_path / "not-there"))
    wizard.next()
    await until(lambda: page.error_label.text(), what="the refusal")
    assert "does not exist or cannot be reached" in page.error_label.text()
    assert wizard.currentId() == 1 and page.form.path_edit.hasFocus()
    assert services.catalog.store.list_repositories() == []
    wizard.reject()
    await until(lambda: window.tools.first_run is None, what="the wizard to close")
    assert not Path(services.paths.settings_file).exists()  # cancelled: not marked done, shown next start


async def test_helpdesk_sees_why_the_repository_step_is_not_theirs(qtbot, real_services, tmp_path) -> None:
    services = real_services(role="helpdesk")
    window = await open_window(qtbot, services, tmp_path)
    wizard: FirstRunWizard = window.tools.open_first_run()
    wizard.next()
    await until(lambda: wizard.currentId() == 1, what="the repository page")
    page = wizard.repository_page
    assert not page.form.isEnabled()
    assert "Only a vmrestore admin can change this. Your role is helpdesk" in page.error_label.text()
    wizard.next()
    await until(lambda: wizard.currentId() == 2, what="the index page")
    await until(lambda: "No repository to index yet" in wizard.index_page.state.text(), what="the index page text")
    wizard.accept()
    settings_file = Path(services.paths.settings_file)
    await until(lambda: settings_file.exists() and json.loads(settings_file.read_text()).get("first_run_done"),
                what="first run marked done")
    assert QApplication.instance() is not None


async def test_settings_lists_and_forgets_a_pinned_certificate(qtbot, real_services, tmp_path) -> None:
    services = real_services()
    thumbprint = ":".join(["AB"] * 32)
    await services.connection.trust("vc01.corp.example:443", thumbprint)
    window = await open_window(qtbot, services, tmp_path)
    dialog = window.tools.open_settings("vcenter")
    await until(lambda: dialog.pins_table.rowCount() == 1, what="the pinned certificate")
    assert dialog.pins_table.item(0, 0).text() == "vc01.corp.example:443"
    dialog.pins_table.selectRow(0)
    assert dialog.forget_button.isEnabled()
    await dialog.forget_selected()
    assert dialog.pins_table.rowCount() == 0
    assert json.loads(Path(services.paths.known_hosts).read_text()) == {}
    audit = [json.loads(line) for line in Path(services.paths.audit_log).read_text().splitlines()]
    assert [(e["action"], e["target"]) for e in audit] == [("settings", "certificate of vc01.corp.example:443")]
    dialog.reject()


async def test_closing_the_window_closes_the_first_run_too(qtbot, real_services, tmp_path) -> None:
    """The wizard is a dialog of its own: left open, it outlived the window it belongs to (and, in one test
    process, the next test's ``FirstRunWizard`` lookup found the stale one)."""
    services = real_services()
    window = await open_window(qtbot, services, tmp_path)
    wizard = window.tools.open_first_run()
    await until(wizard.isVisible, what="the wizard")
    window.close()
    await until(lambda: window.tools.first_run is None, what="the wizard to close with the window")
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, FirstRunWizard) and w.isVisible()]
    assert not Path(services.paths.settings_file).exists()  # closed, not finished: shown again next start
