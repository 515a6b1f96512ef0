"""The main window: areas, shortcuts, the connection status bar, saved UI state, notices."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QLabel,
    QMessageBox,
    QScrollBar,
    QWidget,
)
from pytestqt.qtbot import QtBot

from tests.ui.conftest import until
from tests.ui.fakes import IDENTITY, FakeServices, SweepOutcome
from vmrestore import model
from vmrestore.ui.connect_dialog import ConnectDialog
from vmrestore.ui.main_window import AREA_KEYS, MainWindow
from vmrestore.ui.placeholder import PlaceholderPage

pytestmark = pytest.mark.asyncio


async def make_window(qtbot: QtBot, services: FakeServices, settings: QSettings) -> MainWindow:
    window = MainWindow(services, settings)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    await until(window.isActiveWindow, what="the window to be active")
    return window


async def test_areas_switch_by_click(qtbot: QtBot, services: FakeServices, ui_settings: QSettings) -> None:
    window = await make_window(qtbot, services, ui_settings)
    assert window.nav.count() == 5
    assert [window.nav.item(i).text() for i in range(5)] == [
        "Restore points",
        "Mounted disks & instant VMs",
        "Snapshots",
        "Jobs",
        "Audit",
    ]
    for row, key in enumerate(AREA_KEYS):
        rect = window.nav.visualItemRect(window.nav.item(row))
        qtbot.mouseClick(window.nav.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert window.current_area() == key
        assert window.stack.currentWidget() is window.pages[key]
    assert window.stack.currentWidget() is window.audit_view


async def test_areas_switch_by_ctrl_number(qtbot: QtBot, services: FakeServices, ui_settings: QSettings) -> None:
    window = await make_window(qtbot, services, ui_settings)
    for number, key in reversed(list(enumerate(AREA_KEYS, start=1))):
        qtbot.keyClick(window.nav, getattr(Qt.Key, f"Key_{number}"), Qt.KeyboardModifier.ControlModifier)
        assert window.current_area() == key, f"Ctrl+{number}"
        assert window.nav.currentRow() == number - 1


async def test_placeholders_describe_future_areas_without_data(
    qtbot: QtBot, services: FakeServices, ui_settings: QSettings
) -> None:
    window = await make_window(qtbot, services, ui_settings)
    for key in ("points", "mounts", "snapshots"):
        page = window.pages[key]
        assert isinstance(page, PlaceholderPage)
        texts = " ".join(label.text() for label in page.findChildren(QLabel))
        assert "not available in this version yet" in texts
        assert "will" in texts  # says what will be there
        assert page.findChildren(QAbstractItemView) == []  # no table of made-up rows


async def test_status_bar_follows_connection_listener(
    qtbot: QtBot, services: FakeServices, ui_settings: QSettings
) -> None:
    window = await make_window(qtbot, services, ui_settings)
    status = window.connection_status
    assert status.server_label.text() == "Not connected"
    assert status.role_label.text() == "Role: admin"
    assert not window.disconnect_action.isEnabled()

    services.connection.set_identity(IDENTITY)
    assert status.server_label.text() == "vc01.corp.example — administrator@vsphere.local"
    assert status.cert_label.text() == "certificate pinned"
    assert IDENTITY.thumbprint in status.cert_label.toolTip()
    assert window.disconnect_action.isEnabled()
    assert "vc01.corp.example" in window.windowTitle()

    insecure = model.ServerIdentity("vc02", "helpdesk1", "11:22", "7.0", "insecure")
    services.connection.set_identity(insecure)
    assert status.cert_label.text().startswith("INSECURE")

    window.disconnect_action.trigger()
    await until(lambda: status.server_label.text() == "Not connected", what="the disconnect")
    assert ("disconnect",) in services.connection.calls
    assert not window.disconnect_action.isEnabled()


async def test_listener_removed_when_window_closes(
    qtbot: QtBot, services: FakeServices, ui_settings: QSettings
) -> None:
    window = await make_window(qtbot, services, ui_settings)
    assert len(services.connection._listeners) == 1
    window.close()
    assert services.connection._listeners == []


async def test_geometry_and_last_area_are_remembered(
    qtbot: QtBot, services: FakeServices, ui_settings: QSettings
) -> None:
    window = await make_window(qtbot, services, ui_settings)
    window.resize(700, 500)
    window.show_area("jobs")
    with qtbot.waitSignal(window.closed, timeout=1000):
        window.close()
    assert ui_settings.value("mainWindow/lastArea") == "jobs"

    again = await make_window(qtbot, services, ui_settings)
    assert again.current_area() == "jobs"
    assert (again.width(), again.height()) == (700, 500)


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen cannot raise a window
async def test_connect_action_opens_one_dialog_prefilled(
    qtbot: QtBot, services: FakeServices, ui_settings: QSettings
) -> None:
    services.settings.last_server = "vc01.corp.example"
    services.settings.last_user = "administrator@vsphere.local"
    window = await make_window(qtbot, services, ui_settings)
    window.connect_action.trigger()
    dialogs = window.findChildren(ConnectDialog)
    assert len(dialogs) == 1
    dialog = dialogs[0]
    assert dialog.url_edit.text() == "vc01.corp.example"
    assert dialog.user_edit.text() == "administrator@vsphere.local"
    window.connect_action.trigger()
    assert window.findChildren(ConnectDialog) == [dialog]

    dialog.password_edit.setText("s3cret")
    got: list[object] = []
    dialog.connected.connect(got.append)
    dialog.connect_button.click()
    await until(lambda: got, what="connected")
    assert got == [IDENTITY]
    await until(lambda: window.findChildren(ConnectDialog) == [], what="the dialog to close")
    await until(lambda: services.settings.saves == 1, what="settings saved")
    assert window.connection_status.server_label.text().startswith("vc01.corp.example")


async def test_sweep_notice_lists_what_was_undone(qtbot: QtBot, services: FakeServices, ui_settings: QSettings) -> None:
    window = await make_window(qtbot, services, ui_settings)
    assert window.show_sweep_result(SweepOutcome()) is None

    class Entry:
        kind, resource = "mount_disk", "vm-42"

    box = window.show_sweep_result(SweepOutcome(found=[Entry()], undone=[Entry()]))
    assert isinstance(box, QMessageBox)
    assert "1 item(s) were undone" in box.text()
    assert "mount disk on vm-42" in box.informativeText()
    box.close()


async def test_every_focusable_control_has_a_name_and_tab_reaches_the_page(
    qtbot: QtBot, services: FakeServices, ui_settings: QSettings
) -> None:
    window = await make_window(qtbot, services, ui_settings)
    for key in AREA_KEYS:
        window.show_area(key)
        focusable = [
            w
            for w in window.findChildren(QWidget)
            if w.isVisible() and w.focusPolicy() & Qt.FocusPolicy.TabFocus and not isinstance(w, QScrollBar)
        ]
        assert focusable
        unnamed = [
            w
            for w in focusable
            if not w.accessibleName()
            and not (isinstance(w, QAbstractButton) and w.text())
            and w.parent() is not None
            and not isinstance(w.parent(), QAbstractItemView)
        ]
        assert unnamed == [], [(type(w).__name__, w.objectName()) for w in unnamed]
    window.show_area("jobs")
    window.nav.setFocus()
    assert window.nav.hasFocus()
    window.focusNextChild()
    assert window.jobs_view.isAncestorOf(QApplication.focusWidget())


async def test_built_areas_replace_their_placeholder(
    qtbot: QtBot, services: FakeServices, ui_settings: QSettings
) -> None:
    window = MainWindow(services, ui_settings, area_pages={"snapshots": lambda parent: QLabel("tree", parent)})
    qtbot.addWidget(window)
    assert isinstance(window.pages["snapshots"], QLabel)
    assert isinstance(window.pages["points"], PlaceholderPage)
    window.show_area("snapshots")
    assert window.stack.currentWidget() is window.pages["snapshots"]


async def test_the_window_fits_the_screen_first_time_and_after_a_bigger_monitor(
    qtbot: QtBot, services: FakeServices, ui_settings: QSettings
) -> None:
    """Seen under Xvfb at 1024x700: the first window came up 1180x720, so "Restore to this computer…" lay off
    screen. The default size and a geometry saved on a bigger monitor are both fitted to the free area."""
    window = await make_window(qtbot, services, ui_settings)
    area = window.screen().availableGeometry()  # the offscreen platform's screen is 800x800
    assert area.width() < 1180
    assert window.width() <= area.width() and window.height() <= area.height()

    window.resize(area.width() + 600, area.height() + 400)  # as if saved on a bigger monitor
    with qtbot.waitSignal(window.closed, timeout=1000):
        window.close()
    again = await make_window(qtbot, services, ui_settings)
    assert again.width() <= area.width() and again.height() <= area.height()
