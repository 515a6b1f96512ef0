"""The shared catalog's password lives in the keyring, never in settings.json (issue 12 §4).

Settings keep ``postgresql://user@host/db?…`` without the password; the password is a keyring entry keyed
like a vCenter's (``model.ServerKey``: ``host:port``, here 5432 by default) and the URL's user. The URL to
connect with is put together in memory only, when the catalog is opened. A URL that carries its own
password (``VMRESTORE_CATALOG`` in a script) is used as it is and nothing is saved.
"""

from __future__ import annotations

from vmrestore.app.secrets import SecretStore
from vmrestore.catalog import is_server_url, server_key, split_password, url_user, with_password


def stored_password(url: str, secrets: SecretStore | None) -> str | None:
    """The keyring's password for this URL's server and user (``None``: none saved, or not a server URL)."""
    if secrets is None or not is_server_url(url) or split_password(url)[1] is not None:
        return None
    return secrets.get(str(server_key(url)), url_user(url))


def connect_url(url: str, secrets: SecretStore | None) -> str:
    """``url`` with the keyring's password added (in memory only; never save, log or show it)."""
    return with_password(url, stored_password(url, secrets))


def save_password(url: str, password: str, secrets: SecretStore) -> None:
    """Put ``password`` in the keyring for ``url``'s server and user (``KeyringUnavailable`` if there is none)."""
    secrets.set(str(server_key(url)), url_user(url), password)


def location_with_password(url: str, password: str) -> str:
    """What a form with a URL and a password field hands to ``SettingsEditor`` (which splits it again)."""
    return with_password(url.strip(), password) if password else url.strip()
