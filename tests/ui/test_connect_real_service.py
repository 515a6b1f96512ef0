"""The connect dialog with the real ConnectionService against a real TLS server with a self-signed cert.

Not a vCenter: the server completes TLS handshakes and answers every HTTP request with 503, which is
enough to drive the real certificate decisions (unknown → prompt → pin; pinned but changed → warning) and
the error path after the certificate is accepted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pytestqt.qtbot import QtBot

from tests.ui.conftest import until
from vmrestore.app.connection import ConnectionService
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.ui.cert_dialogs import CertificateChangedDialog, ThumbprintPrompt
from vmrestore.ui.connect_dialog import ConnectDialog
from vmrestore.vsphere.trust import KnownHosts

pytestmark = pytest.mark.asyncio


class TlsServer:
    def __init__(self, directory: Path) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        self.thumbprint_hex = hashlib.sha256(der).hexdigest().upper()
        cert_file, key_file = directory / "cert.pem", directory / "key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                raw, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._answer, args=(raw,), daemon=True).start()

    def _answer(self, raw: socket.socket) -> None:
        raw.settimeout(5)
        try:
            with self.context.wrap_socket(raw, server_side=True) as conn:
                conn.recv(65536)
                body = b"not a vCenter"
                conn.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
        except (OSError, ssl.SSLError):
            pass  # handshake-only probes and refused certificates close early

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    server = TlsServer(tmp_path)
    yield server
    server.close()


def hexdigits(thumbprint: str) -> str:
    return thumbprint.replace(":", "").upper()


async def test_unknown_certificate_is_pinned_after_the_prompt(
    qtbot: QtBot, tmp_path: Path, tls_server: TlsServer
) -> None:
    known = KnownHosts(str(tmp_path / "known_hosts.json"))
    service = ConnectionService(known, MemorySecretStore())
    dialog = ConnectDialog(service)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.url_edit.setText(f"https://localhost:{tls_server.port}/sdk")
    dialog.user_edit.setText("administrator@vsphere.local")
    dialog.password_edit.setText("s3cret!")
    dialog.connect_button.click()

    await until(lambda: dialog.findChildren(ThumbprintPrompt), timeout=20, what="the thumbprint prompt")
    prompt = dialog.findChildren(ThumbprintPrompt)[0]
    assert hexdigits(prompt.thumbprint_label.text()) == tls_server.thumbprint_hex
    assert known.get(f"localhost:{tls_server.port}") is None
    prompt.trust_button.click()

    # Pinned now; the second connect reaches the server, which is no vCenter: the error is shown inline.
    await until(lambda: dialog.error_label.isVisible(), timeout=30, what="the inline error")
    pinned = known.get(f"localhost:{tls_server.port}")
    assert pinned is not None and hexdigits(pinned) == tls_server.thumbprint_hex
    assert dialog.isVisible() and dialog.connect_button.isEnabled()
    assert "s3cret" not in dialog.error_label.text()


async def test_changed_certificate_is_refused_with_both_thumbprints(
    qtbot: QtBot, tmp_path: Path, tls_server: TlsServer
) -> None:
    known = KnownHosts(str(tmp_path / "known_hosts.json"))
    old = ":".join(["AB"] * 32)
    known.pin(f"localhost:{tls_server.port}", old)
    service = ConnectionService(known, MemorySecretStore())
    dialog = ConnectDialog(service)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.url_edit.setText(f"localhost:{tls_server.port}")
    dialog.user_edit.setText("administrator@vsphere.local")
    dialog.password_edit.setText("s3cret!")
    dialog.connect_button.click()

    await until(lambda: dialog.findChildren(CertificateChangedDialog), timeout=20, what="the warning")
    warning = dialog.findChildren(CertificateChangedDialog)[0]
    assert hexdigits(warning.pinned_label.text()) == "AB" * 32
    assert hexdigits(warning.presented_label.text()) == tls_server.thumbprint_hex
    assert dialog.findChildren(ThumbprintPrompt) == []
    warning.reject()
    await until(dialog.connect_button.isEnabled, what="the form")
    assert hexdigits(known.get(f"localhost:{tls_server.port}") or "") == "AB" * 32  # pin untouched
    assert service.identity is None
