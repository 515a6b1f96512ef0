"""The status bar's connection widget: server, user, role and certificate state, or "Not connected"."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

from vmrestore import model

CERT_WORDS = {
    "pinned": "certificate pinned",
    "system-trusted": "certificate trusted by the system",
    "insecure": "INSECURE: certificate not verified",
}


class ConnectionWatcher(QObject):
    """Turns ``connection.add_listener`` callbacks into a Qt signal (queued if from another thread)."""

    changed = Signal(object)  # model.ServerIdentity | None


class ConnectionStatus(QWidget):
    def __init__(self, role: model.Role, parent: QWidget | None = None, *, role_locked: bool = False) -> None:
        super().__init__(parent)
        self._role = role
        self._role_locked = role_locked
        self.identity: model.ServerIdentity | None = None
        self.server_label = QLabel(self)
        self.server_label.setObjectName("statusServer")
        self.role_label = QLabel(self)
        self.role_label.setObjectName("statusRole")
        self.cert_label = QLabel(self)
        self.cert_label.setObjectName("statusCertificate")
        self.cert_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        self._cert_separator = self._separator()
        layout.addWidget(self.server_label)
        layout.addWidget(self._separator())
        layout.addWidget(self.role_label)
        layout.addWidget(self._cert_separator)
        layout.addWidget(self.cert_label)
        self.set_identity(None)

    def _separator(self) -> QFrame:
        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.VLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        return line

    def set_role(self, role: model.Role) -> None:
        self._role = role
        self.set_identity(self.identity)

    def set_identity(self, identity: model.ServerIdentity | None) -> None:
        self.identity = identity
        self.role_label.setText(f"Role: {self._role.value}")
        self.role_label.setAccessibleName(f"vmrestore role {self._role.value}")
        self.role_label.setToolTip(
            "Set by your administrator's machine policy"
            if self._role_locked
            else "vmrestore's own role; vCenter permissions still decide per object"
        )
        self.server_label.setStyleSheet("")
        if identity is None:
            self.server_label.setText("Not connected")
            self.server_label.setToolTip("Use File › Connect… (Ctrl+K) to sign in to a vCenter")
            self.cert_label.setText("")
            self.cert_label.setToolTip("")
            self.cert_label.setVisible(False)
            self._cert_separator.setVisible(False)
        else:
            self.server_label.setText(f"{identity.server} — {identity.user}")
            self.server_label.setToolTip(f"vSphere API {identity.api_version}")
            state = identity.certificate_state
            self.cert_label.setText(CERT_WORDS.get(state, f"certificate: {state}"))
            self.cert_label.setToolTip(f"SHA-256 thumbprint:\n{identity.thumbprint}")
            self.cert_label.setStyleSheet("color: #d32f2f; font-weight: bold;" if state == "insecure" else "")
            self.cert_label.setVisible(True)
            self._cert_separator.setVisible(True)
        self.server_label.setAccessibleName(f"Connection: {self.server_label.text()}")
        self.cert_label.setAccessibleName(f"Certificate: {self.cert_label.text() or 'none'}")
        self.setAccessibleName(self.summary())

    def set_lost(self, reason: str) -> None:
        """The session ended without a disconnect (vCenter unreachable): say so until the next login."""
        self.set_identity(None)
        self.server_label.setText("Connection lost — File › Connect… (Ctrl+K)")
        self.server_label.setToolTip(reason)
        self.server_label.setStyleSheet("color: #d32f2f; font-weight: bold;")
        self.server_label.setAccessibleName(f"Connection: {reason}")
        self.setAccessibleName(self.summary())

    def summary(self) -> str:
        parts = [self.server_label.text(), self.role_label.text()]
        if self.cert_label.text():
            parts.append(self.cert_label.text())
        return " | ".join(parts)
