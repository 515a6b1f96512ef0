"""Certificate dialogs: the thumbprint prompt for an unknown certificate, the warning for a changed one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)


def _mono_label(text: str, parent: QWidget, name: str) -> QLabel:
    label = QLabel(text, parent)
    label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    label.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    label.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # reachable by Tab, so it can be selected and copied
    label.setWordWrap(True)
    label.setFrameShape(QLabel.Shape.StyledPanel)
    label.setMargin(6)
    label.setAccessibleName(name)
    return label


def _icon_row(parent: QWidget, icon: QStyle.StandardPixmap, heading: str) -> QHBoxLayout:
    row = QHBoxLayout()
    pic = QLabel(parent)
    pic.setPixmap(parent.style().standardIcon(icon).pixmap(40, 40))
    pic.setAlignment(Qt.AlignmentFlag.AlignTop)
    text = QLabel(heading, parent)
    text.setWordWrap(True)
    text.setTextFormat(Qt.TextFormat.RichText)
    row.addWidget(pic)
    row.addWidget(text, 1)
    return row


class ThumbprintPrompt(QDialog):
    """Asks whether to trust (pin) a certificate that the system does not trust. Cancel is the default."""

    def __init__(self, server: str, thumbprint: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.server = server
        self.thumbprint = thumbprint
        self.setObjectName("thumbprintPrompt")
        self.setWindowTitle("Verify the server certificate")
        self.setAccessibleName("Verify the server certificate")
        self.setMinimumWidth(560)

        heading = _icon_row(
            self,
            QStyle.StandardPixmap.SP_MessageBoxQuestion,
            f"<b>This computer does not trust the certificate of {_html(server)}.</b><br>"
            "That is normal for a vCenter with its own self-signed certificate, but it is also what an "
            "attacker in the middle would look like.",
        )
        label = QLabel("SHA-256 thumbprint presented by the server:", self)
        self.thumbprint_label = _mono_label(thumbprint, self, "SHA-256 thumbprint")
        self.thumbprint_label.setObjectName("thumbprintLabel")
        label.setBuddy(self.thumbprint_label)
        how = QLabel(
            "<b>Before you trust it, compare it with the real one</b> — not with something sent by e-mail "
            "or chat:<ul>"
            "<li>ask your vCenter administrator to read it to you from the vCenter appliance "
            "(VAMI, or <code>openssl x509 -noout -fingerprint -sha256</code> on the machine "
            "certificate), or</li>"
            "<li>open <code>https://" + _html(_host(server)) + "</code> in a browser on a trusted network and "
            "view the certificate's SHA-256 fingerprint.</li></ul>"
            "If it matches, vmrestore remembers (pins) it and warns loudly if it ever changes.",
            self,
        )
        how.setWordWrap(True)
        how.setTextFormat(Qt.TextFormat.RichText)

        buttons = QDialogButtonBox(self)
        self.trust_button = QPushButton("&Trust and connect", self)
        self.trust_button.setObjectName("trustButton")
        self.trust_button.setAccessibleName("Trust this certificate and connect")
        self.trust_button.setAutoDefault(False)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("cancelTrustButton")
        self.cancel_button.setAccessibleName("Do not trust; cancel")
        self.cancel_button.setDefault(True)
        buttons.addButton(self.trust_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(heading)
        layout.addWidget(label)
        layout.addWidget(self.thumbprint_label)
        layout.addWidget(how)
        layout.addWidget(buttons)
        self.cancel_button.setFocus()


class CertificateChangedDialog(QDialog):
    """A pinned server presents another certificate: refuse, say so loudly, offer no way to proceed."""

    def __init__(self, server: str, pinned: str, presented: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("certificateChanged")
        self.setWindowTitle("WARNING: server certificate changed")
        self.setAccessibleName("Warning: the server certificate changed")
        self.setMinimumWidth(600)

        heading = _icon_row(
            self,
            QStyle.StandardPixmap.SP_MessageBoxCritical,
            f"<span style='font-size:14pt; font-weight:bold; color:#d32f2f'>The certificate of "
            f"{_html(server)} has CHANGED.</span><br>"
            "Someone may be intercepting the connection to read your password or the data you restore. "
            "<b>vmrestore refused to connect.</b>",
        )
        pinned_caption = QLabel("Pinned (trusted earlier):", self)
        self.pinned_label = _mono_label(pinned, self, "Pinned thumbprint")
        self.pinned_label.setObjectName("pinnedThumbprint")
        pinned_caption.setBuddy(self.pinned_label)
        presented_caption = QLabel("Presented now:", self)
        self.presented_label = _mono_label(presented, self, "Presented thumbprint")
        self.presented_label.setObjectName("presentedThumbprint")
        presented_caption.setBuddy(self.presented_label)
        advice = QLabel(
            "Do not try again from this network. Tell your vCenter administrator. If they confirm that the "
            "certificate was replaced on purpose, an admin removes the old pin (vmrestore's known-hosts "
            "file) "
            "and connects again to verify the new thumbprint.",
            self,
        )
        advice.setWordWrap(True)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setAccessibleName("Close")
        close.setDefault(True)

        layout = QVBoxLayout(self)
        layout.addLayout(heading)
        layout.addWidget(pinned_caption)
        layout.addWidget(self.pinned_label)
        layout.addWidget(presented_caption)
        layout.addWidget(self.presented_label)
        layout.addWidget(advice)
        layout.addWidget(buttons)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _host(server: str) -> str:
    rest = server.split("://", 1)[-1]
    return rest.split("/", 1)[0]
