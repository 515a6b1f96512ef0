"""The connect dialog: async connect, the thumbprint prompt, the changed-certificate warning, inline errors."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog
from pytestqt.qtbot import QtBot

from tests.ui.conftest import until
from tests.ui.fakes import IDENTITY, FakeConnection
from vmrestore import errors
from vmrestore.ui.cert_dialogs import CertificateChangedDialog, ThumbprintPrompt
from vmrestore.ui.connect_dialog import ConnectDialog

pytestmark = pytest.mark.asyncio

THUMBPRINT = "3F:9A:" + ":".join(f"{(i * 37) % 256:02X}" for i in range(30))
ACCEPTED = QDialog.DialogCode.Accepted.value


def filled(qtbot: QtBot, connection: FakeConnection) -> ConnectDialog:
    dialog = ConnectDialog(connection)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.url_edit, "vc01.corp.example")
    qtbot.keyClicks(dialog.user_edit, "administrator@vsphere.local")
    qtbot.keyClicks(dialog.password_edit, "s3cret!")
    return dialog


async def test_password_is_masked_and_fields_are_named(qtbot: QtBot, connection: FakeConnection) -> None:
    dialog = filled(qtbot, connection)
    assert dialog.password_edit.echoMode() == dialog.password_edit.EchoMode.Password
    assert dialog.password_edit.displayText() != "s3cret!"
    for widget in (
        dialog.url_edit,
        dialog.user_edit,
        dialog.password_edit,
        dialog.save_check,
        dialog.connect_button,
        dialog.cancel_button,
    ):
        assert widget.accessibleName()


async def test_connect_success_passes_the_fields(qtbot: QtBot, connection: FakeConnection) -> None:
    dialog = filled(qtbot, connection)
    dialog.save_check.setChecked(True)
    dialog.connect_button.click()
    await until(lambda: dialog.result() == ACCEPTED, what="accept")
    assert connection.calls == [("connect", "vc01.corp.example", "administrator@vsphere.local", "s3cret!", True)]
    assert dialog.identity == IDENTITY


async def test_untrusted_certificate_prompt_then_trust_and_reconnect(qtbot: QtBot, connection: FakeConnection) -> None:
    connection.outcomes = [errors.CertificateUntrusted("vc01.corp.example", THUMBPRINT), IDENTITY]
    dialog = filled(qtbot, connection)
    dialog.connect_button.click()
    await until(lambda: dialog.findChildren(ThumbprintPrompt), what="the thumbprint prompt")
    prompt = dialog.findChildren(ThumbprintPrompt)[0]
    assert prompt.isVisible()
    assert prompt.thumbprint_label.text() == THUMBPRINT  # exact, in full
    assert prompt.thumbprint_label.textInteractionFlags()  # selectable
    # Monospace: Qt's own fixed-pitch system font (whatever fonts this machine has installed).
    fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    assert prompt.thumbprint_label.font().family() == fixed.family()
    assert prompt.thumbprint_label.font().family() != QFontDatabase.systemFont(
        QFontDatabase.SystemFont.GeneralFont).family()
    assert prompt.cancel_button.isDefault() and not prompt.trust_button.isDefault()
    assert connection.calls == [("connect", "vc01.corp.example", "administrator@vsphere.local", "s3cret!", False)]

    prompt.trust_button.click()
    await until(lambda: dialog.result() == ACCEPTED, what="accept")
    assert [c[0] for c in connection.calls] == ["connect", "trust", "connect"]
    assert connection.calls[1] == ("trust", "vc01.corp.example", THUMBPRINT)
    assert dialog.identity == IDENTITY


async def test_untrusted_certificate_declined_does_not_pin(qtbot: QtBot, connection: FakeConnection) -> None:
    connection.outcomes = [errors.CertificateUntrusted("vc01.corp.example", THUMBPRINT)]
    dialog = filled(qtbot, connection)
    dialog.connect_button.click()
    await until(lambda: dialog.findChildren(ThumbprintPrompt), what="the thumbprint prompt")
    dialog.findChildren(ThumbprintPrompt)[0].cancel_button.click()
    await until(lambda: dialog.connect_button.isEnabled(), what="the form to be usable again")
    assert [c[0] for c in connection.calls] == ["connect"]
    assert dialog.isVisible() and dialog.result() != ACCEPTED
    assert "not trusted" in dialog.error_label.text()


async def test_changed_certificate_warns_and_never_retries(qtbot: QtBot, connection: FakeConnection) -> None:
    pinned, presented = "AA:" * 31 + "AA", "BB:" * 31 + "BB"
    connection.outcomes = [errors.CertificateChanged("vc01.corp.example", pinned, presented)]
    dialog = filled(qtbot, connection)
    dialog.connect_button.click()
    await until(lambda: dialog.findChildren(CertificateChangedDialog), what="the warning")
    warning = dialog.findChildren(CertificateChangedDialog)[0]
    assert warning.pinned_label.text() == pinned
    assert warning.presented_label.text() == presented
    assert warning.findChildren(ThumbprintPrompt) == []
    button_texts = [b.text().replace("&", "") for b in warning.findChildren(type(dialog.connect_button))]
    assert button_texts == ["Close"]  # no way to proceed
    assert "changed" in dialog.error_label.text()
    warning.reject()
    await until(lambda: dialog.connect_button.isEnabled(), what="the form to be usable again")
    await asyncio.sleep(0.05)
    assert [c[0] for c in connection.calls] == ["connect"]  # no trust, no retry
    assert dialog.result() != ACCEPTED


async def test_auth_failed_is_shown_inline(qtbot: QtBot, connection: FakeConnection) -> None:
    connection.outcomes = [errors.AuthFailed("Wrong user name or password for vc01.corp.example")]
    dialog = filled(qtbot, connection)
    dialog.connect_button.click()
    await until(lambda: dialog.error_label.isVisible(), what="the inline error")
    assert dialog.error_label.text() == "Wrong user name or password for vc01.corp.example"
    assert dialog.isVisible() and dialog.connect_button.isEnabled()
    assert "s3cret" not in dialog.error_label.text()
    assert dialog.password_edit.hasSelectedText()  # ready to retype


async def test_other_errors_are_inline_not_crashes(qtbot: QtBot, connection: FakeConnection) -> None:
    connection.outcomes = [errors.Transient("vc01.corp.example did not answer"), RuntimeError("boom")]
    dialog = filled(qtbot, connection)
    dialog.connect_button.click()
    await until(lambda: dialog.error_label.isVisible(), what="the inline error")
    assert "Connection problem" in dialog.error_label.text()
    assert "did not answer" in dialog.error_label.text()
    dialog.connect_button.click()
    await until(lambda: "boom" in dialog.error_label.text(), what="the unexpected error")
    assert "RuntimeError: boom" in dialog.error_label.text()
    assert dialog.connect_button.isEnabled()


async def test_busy_while_connecting_and_cancel_stops_the_attempt(qtbot: QtBot, connection: FakeConnection) -> None:
    connection.gate = asyncio.Event()
    dialog = filled(qtbot, connection)
    dialog.connect_button.click()
    await until(lambda: connection.calls, what="connect to be called")
    assert not dialog.connect_button.isEnabled()
    assert dialog.connect_button.text() == "Connecting…"
    assert not dialog.busy.isHidden()
    assert not dialog.url_edit.isEnabled()

    dialog.cancel_button.click()
    await until(lambda: dialog.connect_button.isEnabled(), what="the attempt to stop")
    assert dialog.isVisible()
    assert "cancelled" in dialog.error_label.text()
    assert dialog.busy.isHidden()

    dialog.cancel_button.click()  # idle: Cancel closes
    assert not dialog.isVisible()
    assert dialog.result() == QDialog.DialogCode.Rejected.value


async def test_missing_fields_are_reported_before_connecting(qtbot: QtBot, connection: FakeConnection) -> None:
    dialog = ConnectDialog(connection)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.connect_button.click()
    assert dialog.error_label.text() == "Enter the vCenter server address."
    dialog.url_edit.setText("vc01")
    dialog.user_edit.setText("bob")
    dialog.connect_button.click()
    assert "Enter the password" in dialog.error_label.text()
    assert connection.calls == []

    connection.saved.add(("vc01", "bob"))
    dialog.user_edit.setText("bob ")  # re-evaluates the hint
    assert dialog.password_edit.placeholderText() == "Saved password will be used"
    dialog.connect_button.click()
    await until(lambda: dialog.result() == ACCEPTED, what="accept")
    assert connection.calls == [("connect", "vc01", "bob", None, False)]
