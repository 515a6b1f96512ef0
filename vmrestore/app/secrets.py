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

    def remember(self, server: str, user: str, secret: str) -> None:
        """Keep ``secret`` for this process only (no keyring, or not to be saved); ``get`` returns it first."""


class KeyringSecretStore:
    """The OS keyring: one entry per (server, user) under the service ``vmrestore:<server>``.

    ``keyring`` is imported on first use: it costs ~0.1 s of CPU at start-up (it loads its backends'
    entry points), which a command that never logs in (``points list``) should not pay.

    :meth:`remember` keeps a secret in this process's memory only (a computer without a keyring, a password
    typed at start): it is found first by :meth:`get` and gone when the process ends.
    """

    def __init__(self) -> None:
        self._session: dict[tuple[str, str], str] = {}

    def remember(self, server: str, user: str, secret: str) -> None:
        self._session[(server, user)] = secret

    def get(self, server: str, user: str) -> str | None:
        if (server, user) in self._session:
            return self._session[(server, user)]
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
        self._session.pop((server, user), None)
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
        self._session: dict[tuple[str, str], str] = {}

    def get(self, server: str, user: str) -> str | None:
        return self._session.get((server, user)) or self._items.get((server, user))

    def set(self, server: str, user: str, secret: str) -> None:
        self._items[(server, user)] = secret

    def delete(self, server: str, user: str) -> None:
        self._items.pop((server, user), None)
        self._session.pop((server, user), None)

    def remember(self, server: str, user: str, secret: str) -> None:
        """Kept apart from :meth:`set`'s items, so a test can tell "saved" from "this session only"."""
        self._session[(server, user)] = secret

    def saved(self, server: str, user: str) -> str | None:
        """What :meth:`set` stored (the keyring's part), without the session's."""
        return self._items.get((server, user))
