"""Passwords live only in the OS keyring (Windows Credential Manager), behind a tiny port.

Tests use ``MemorySecretStore``; they never touch a real user's keyring. When no keyring backend is
available (a Linux box without a D-Bus session), saving fails with a plain message and the password
is kept for this session only.
"""

from __future__ import annotations

import logging
from typing import Protocol

from vmrestore.errors import VmrestoreError

log = logging.getLogger(__name__)

SERVICE_PREFIX = "vmrestore:"


class KeyringUnavailable(VmrestoreError):
    code = "keyring_unavailable"


class SecretStore(Protocol):
    def get(self, server: str, user: str) -> str | None: ...
    def set(self, server: str, user: str, secret: str) -> None: ...
    def delete(self, server: str, user: str) -> None: ...


class KeyringSecretStore:
    """The OS keyring: one entry per (server, user) under the service ``vmrestore:<server>``.

    ``keyring`` is imported on first use: it costs ~0.1 s of CPU at start-up (it loads its backends'
    entry points), which a command that never logs in (``points list``) should not pay.
    """

    def get(self, server: str, user: str) -> str | None:
        import keyring
        import keyring.errors

        try:
            return keyring.get_password(SERVICE_PREFIX + server, user)
        except keyring.errors.KeyringError as exc:
            log.info("keyring not available: %s", type(exc).__name__)
            return None

    def set(self, server: str, user: str, secret: str) -> None:
        import keyring
        import keyring.errors

        try:
            keyring.set_password(SERVICE_PREFIX + server, user, secret)
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(
                "No password store (keyring) is available on this computer; "
                "the password is kept for this session only."
            ) from exc

    def delete(self, server: str, user: str) -> None:
        import keyring
        import keyring.errors

        try:
            keyring.delete_password(SERVICE_PREFIX + server, user)
        except keyring.errors.KeyringError:
            pass


class MemorySecretStore:
    """In-memory store for tests and for sessions without a keyring."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], str] = {}

    def get(self, server: str, user: str) -> str | None:
        return self._items.get((server, user))

    def set(self, server: str, user: str, secret: str) -> None:
        self._items[(server, user)] = secret

    def delete(self, server: str, user: str) -> None:
        self._items.pop((server, user), None)
