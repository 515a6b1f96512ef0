"""File › Connect…: sign in to a vCenter without ever blocking the window.

Connect starts ``connection.connect`` as an asyncio task; the form is disabled and a busy bar shows while it
runs; Cancel stops the attempt (a second Cancel closes the dialog). An unknown certificate opens the
thumbprint prompt; a changed one opens the loud warning and ends the attempt. Other errors appear inline.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from vmrestore import errors, model

from .cert_dialogs import CertificateChangedDialog, ThumbprintPrompt
from .errors import describe
from .ports import ConnectionLike
from .tasks import TaskSet, ask

log = logging.getLogger(__name__)


class ConnectDialog(QDialog):
    connected = Signal(object)  # model.ServerIdentity

    def __init__(
        self,
        connection: ConnectionLike,
        parent: QWidget | None = None,
        *,
        url: str | None = None,
        username: str | None = None,
    ) -> None:
        super().__init__(parent)
        self._connection = connection
        self._tasks = TaskSet()
        self._attempt: asyncio.Task[None] | None = None
        self.identity: model.ServerIdentity | None = None
        self.setObjectName("connectDialog")
        self.setWindowTitle("Connect to vCenter")
        self.setAccessibleName("Connect to vCenter")
        self.setMinimumWidth(480)

        intro = QLabel("Sign in to the vCenter Server (or ESXi host) that runs the VMs you want to restore.", self)
        intro.setWordWrap(True)

        self.url_edit = QLineEdit(url or "", self)
        self.url_edit.setObjectName("urlEdit")
        self.url_edit.setPlaceholderText("vcenter.example.com or https://vcenter.example.com/sdk")
        self.url_edit.setAccessibleName("vCenter server address")
        self.user_edit = QLineEdit(username or "", self)
        self.user_edit.setObjectName("userEdit")
        self.user_edit.setPlaceholderText("administrator@vsphere.local or DOMAIN\\user")
        self.user_edit.setAccessibleName("User name")
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("passwordEdit")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setAccessibleName("Password")
        self.save_check = QCheckBox("Save pass&word in Windows Credential Manager / keyring", self)
        self.save_check.setObjectName("savePassword")
        self.save_check.setAccessibleName("Save password in Windows Credential Manager or the keyring")

        form = QFormLayout()
        form.addRow("&Server:", self.url_edit)
        form.addRow("&User:", self.user_edit)
        form.addRow("&Password:", self.password_edit)
        form.addRow("", self.save_check)

        self.busy = QProgressBar(self)
        self.busy.setObjectName("connectBusy")
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(8)
        self.busy.setAccessibleName("Connecting")
        self.busy.setVisible(False)

        self.error_label = QLabel("", self)
        self.error_label.setObjectName("connectError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setAccessibleName("Connection error")
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.setVisible(False)

        self.buttons = QDialogButtonBox(self)
        self.connect_button = QPushButton("&Connect", self)
        self.connect_button.setObjectName("connectButton")
        self.connect_button.setAccessibleName("Connect")
        self.connect_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setAccessibleName("Cancel")
        self.buttons.addButton(self.connect_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.connect_button.clicked.connect(self.start_connect)
        self.cancel_button.clicked.connect(self.cancel)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.busy)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        self.setTabOrder(self.url_edit, self.user_edit)
        self.setTabOrder(self.user_edit, self.password_edit)
        self.setTabOrder(self.password_edit, self.save_check)
        self.setTabOrder(self.save_check, self.connect_button)
        self.setTabOrder(self.connect_button, self.cancel_button)

        self.url_edit.textChanged.connect(self._update_saved_hint)
        self.user_edit.textChanged.connect(self._update_saved_hint)
        self._update_saved_hint()
        first_empty = next((e for e in (self.url_edit, self.user_edit) if not e.text()), self.password_edit)
        first_empty.setFocus()

    # -- state -------------------------------------------------------------------------------------
    @property
    def busy_connecting(self) -> bool:
        return self._attempt is not None and not self._attempt.done()

    def _set_busy(self, busy: bool) -> None:
        for widget in (
            self.url_edit,
            self.user_edit,
            self.password_edit,
            self.save_check,
            self.connect_button,
        ):
            widget.setEnabled(not busy)
        self.busy.setVisible(busy)
        self.connect_button.setText("Connecting…" if busy else "&Connect")
        if busy:
            self.cancel_button.setFocus()

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def _update_saved_hint(self) -> None:
        url, user = self.url_edit.text().strip(), self.user_edit.text().strip()
        saved = bool(url and user) and self._saved_password(url, user)
        self.password_edit.setPlaceholderText("Saved password will be used" if saved else "")

    def _saved_password(self, url: str, user: str) -> bool:
        try:
            return self._connection.saved_password_available(url, user)
        except Exception:  # a broken keyring must not break the dialog
            log.warning("Could not check the keyring for a saved password", exc_info=True)
            return False

    # -- actions -----------------------------------------------------------------------------------
    def start_connect(self) -> None:
        if self.busy_connecting:
            return
        url, user = self.url_edit.text().strip(), self.user_edit.text().strip()
        password = self.password_edit.text() or None
        if not url:
            self.show_error("Enter the vCenter server address.")
            self.url_edit.setFocus()
            return
        if not user:
            self.show_error("Enter the user name.")
            self.user_edit.setFocus()
            return
        if password is None and not self._saved_password(url, user):
            self.show_error("Enter the password (no password is saved for this server and user).")
            self.password_edit.setFocus()
            return
        self.show_error("")
        self._set_busy(True)
        self._attempt = self._tasks.spawn(
            self._connect(url, user, password, self.save_check.isChecked()), name="connect"
        )

    def cancel(self) -> None:
        if self.busy_connecting:
            assert self._attempt is not None
            self._attempt.cancel()
            return
        self.reject()

    def reject(self) -> None:
        self._tasks.cancel_all()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._tasks.cancel_all()
        super().closeEvent(event)

    async def _connect(self, url: str, user: str, password: str | None, save: bool) -> None:
        try:
            identity = await self._connect_trusting(url, user, password, save)
        except asyncio.CancelledError:
            self._set_busy(False)
            self.show_error("Connection attempt cancelled.")
            raise
        except errors.AuthFailed as exc:
            self._set_busy(False)
            self.show_error(describe(exc).text)
            self.password_edit.setFocus()
            self.password_edit.selectAll()
            return
        except errors.CertificateChanged as exc:
            self._set_busy(False)
            self.show_error(f"Refused: the certificate of {exc.server} changed. See the warning.")
            warning = CertificateChangedDialog(exc.server, exc.pinned, exc.presented, self)
            await ask(warning)
            warning.deleteLater()
            return
        except errors.VmrestoreError as exc:
            self._set_busy(False)
            described = describe(exc)
            self.show_error(f"{described.title}: {described.text}")
            return
        except Exception as exc:  # a bug below us: say so inline, keep the window alive, log the traceback
            log.exception("Connecting to %s failed unexpectedly", url)
            self._set_busy(False)
            self.show_error(describe(exc).text)
            return
        if identity is None:  # the operator declined the certificate
            self._set_busy(False)
            self.show_error("Not connected: the certificate was not trusted.")
            return
        self.identity = identity
        self._set_busy(False)
        self.connected.emit(identity)
        self.accept()

    async def _connect_trusting(
        self, url: str, user: str, password: str | None, save: bool
    ) -> model.ServerIdentity | None:
        try:
            return await self._connection.connect(url, user, password, save_password=save)
        except errors.CertificateUntrusted as exc:
            prompt = ThumbprintPrompt(exc.server, exc.thumbprint, self)
            self.busy.setVisible(False)
            answer = await ask(prompt)
            prompt.deleteLater()
            if answer != QDialog.DialogCode.Accepted.value:
                return None
            self.busy.setVisible(True)
            await self._connection.trust(exc.server, exc.thumbprint)
        # Pinned now: a second CertificateUntrusted would be a bug below us and is shown inline, not looped.
        return await self._connection.connect(url, user, password, save_password=save)
