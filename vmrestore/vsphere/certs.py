"""Server certificates: fetch what a server presents, and name it by its SHA-256 thumbprint.

The thumbprint is what an operator compares with the one vCenter shows (and what govc pins), so it
is always SHA-256 of the DER certificate, written as colon-separated uppercase hex.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from vmrestore.errors import Transient
from vmrestore.vsphere.thumbprint import normalize_thumbprint, sha256_thumbprint

__all__ = ["CertificatePinMismatch", "PinnedContext", "fetch_der_certificate", "normalize_thumbprint", "pinned_context",
           "sha256_thumbprint", "system_trusts"]


def fetch_der_certificate(host: str, port: int, timeout: float = 10.0) -> bytes:
    """Return the DER certificate the server presents, *without* verifying it.

    Used only to show or compare a thumbprint before deciding whether to trust the server; nothing
    is sent over this connection.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise Transient(f"Cannot reach {host}:{port}: {exc}") from exc
    if not der:
        raise Transient(f"{host}:{port} presented no certificate")
    return der


class CertificatePinMismatch(ssl.SSLError):
    """A pinned connection met another certificate.

    Raised inside the TLS handshake, before any request byte (or password) is sent.
    """

    def __init__(self, pinned: str, presented: str) -> None:
        super().__init__(f"certificate thumbprint {presented} does not match the pinned {pinned}")
        self.pinned = pinned
        self.presented = presented


class PinnedContext(ssl.SSLContext):
    """A TLS client context that accepts exactly one certificate, named by its SHA-256 thumbprint.

    The chain is not verified (a self-signed vCenter certificate has none), but every new connection
    - including the ones pyVmomi opens later to replace dropped ones - checks the peer certificate
    against the pin. pyVmomi's own ``thumbprint=`` check runs only when a verifying handshake fails
    and then switches the shared context to CERT_NONE, so later connections would go unchecked.
    """

    pinned_thumbprint: str

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        tls = super().wrap_socket(sock, *args, **kwargs)
        der = tls.getpeercert(binary_form=True)
        presented = sha256_thumbprint(der) if der else "(none)"
        if presented != self.pinned_thumbprint:
            tls.close()
            raise CertificatePinMismatch(self.pinned_thumbprint, presented)
        return tls


def pinned_context(thumbprint: str) -> PinnedContext:
    """A client context pinned to ``thumbprint`` (TLS 1.2 or newer)."""
    context = PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.pinned_thumbprint = normalize_thumbprint(thumbprint)
    return context


def system_trusts(host: str, port: int, timeout: float = 10.0) -> bool:
    """True when the system trust store accepts the server's certificate for ``host``."""
    context = ssl.create_default_context()
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host),
        ):
            return True
    except ssl.SSLCertVerificationError:
        return False
    except (OSError, ssl.SSLError) as exc:
        raise Transient(f"Cannot reach {host}:{port}: {exc}") from exc
