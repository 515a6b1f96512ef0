"""The shared catalog's password when the keyring has none: ``VMRESTORE_CATALOG_PASSWORD``, else a prompt.

A computer without a keyring (a server core, a locked-down image) can still use a password-protected shared
catalog from scripts and terminals. The variable is read once and removed from this process's environment,
so the worker processes indexing starts never inherit it; the password is kept in memory for this process
only (``SecretStore.remember``) and asked again by the next command.
"""

from __future__ import annotations

import getpass
import os
import sys

from vmrestore.app.bootstrap import AppServices, build_services
from vmrestore.app.secrets import KeyringSecretStore
from vmrestore.errors import CatalogPasswordRequired

ENV = "VMRESTORE_CATALOG_PASSWORD"
ATTEMPTS = 3


def build_services_with_login() -> AppServices:
    """``build_services``, supplying the catalog password from ``VMRESTORE_CATALOG_PASSWORD`` or a prompt
    (at a terminal, up to three tries) when the server wants one the keyring does not have."""
    from_env = os.environ.pop(ENV, None)
    secrets = KeyringSecretStore()
    for attempt in range(ATTEMPTS):
        try:
            return build_services(secrets=secrets)
        except CatalogPasswordRequired as exc:
            typed = from_env if from_env and attempt == 0 else _prompt(exc)
            if typed is None or exc.supply is None:
                raise CatalogPasswordRequired(
                    f"{exc} Set {ENV}, save the password in the keyring (Settings › Catalog), or run the command "
                    "at a terminal to be asked.", exc.where, exc.wrong) from None
            exc.supply(typed)
    return build_services(secrets=secrets)  # the last typed password: its refusal is the error shown


def _prompt(exc: CatalogPasswordRequired) -> str | None:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    if exc.wrong:
        print("vmrestore: the catalog server refused that password.", file=sys.stderr)
    return getpass.getpass(f"Password for the shared catalog {exc.where}: ") or None
