"""Guest OS credentials for VMware Tools guest operations (shared/CLI.md "Guest credentials").

Where they come from, in order: ``VMRESTORE_GUEST_USERNAME`` / ``VMRESTORE_GUEST_PASSWORD``; a user name
given by the operator with the password from the keyring (saved earlier with ``--save``) or asked for.
They live for the session only unless the operator asks to save them. The password never reaches an
argument, a log line, the journal or the audit log: only :class:`GuestCredentials` carries it, and its
``repr`` hides it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from vmrestore.app.secrets import KeyringUnavailable, SecretStore
from vmrestore.errors import InvalidInput
from vmrestore.model import GuestCredentials

__all__ = ["GuestCredentials", "resolve_guest_credentials"]

log = logging.getLogger(__name__)

ENV_USER = "VMRESTORE_GUEST_USERNAME"
ENV_PASSWORD = "VMRESTORE_GUEST_PASSWORD"


def _key(server: str) -> str:
    """Keyring entries for guests are kept apart from vCenter logins: ``guest@<vcenter>``."""
    return f"guest@{server}"


def resolve_guest_credentials(
    secrets: SecretStore,
    server: str,
    username: str | None = None,
    prompt: Callable[[str], str] | None = None,
    *,
    save: bool = False,
) -> GuestCredentials:
    """Credentials from the environment, the keyring or ``prompt(user)``; saved only when ``save``."""
    user = username or os.environ.get(ENV_USER) or ""
    if not user:
        raise InvalidInput(
            f"Give the guest login: set {ENV_USER} and {ENV_PASSWORD}, or pass --guest-user (the password is asked)"
        )
    password = os.environ.get(ENV_PASSWORD) if not username or username == os.environ.get(ENV_USER) else None
    if not password:
        password = secrets.get(_key(server), user)
    if not password and prompt is not None:
        password = prompt(user)
    if not password:
        raise InvalidInput(f"No guest password for {user}: set {ENV_PASSWORD} or run at a terminal to be asked")
    creds = GuestCredentials(user, password)
    if save:
        try:
            secrets.set(_key(server), user, password)
        except KeyringUnavailable as exc:  # still usable for this session; the operator is told why
            log.warning("guest password not saved: %s", exc)
    return creds
