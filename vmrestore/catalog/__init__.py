"""Restore-point discovery (ghettoVCB layout, .vmx and VMDK descriptors) and the guest-file index store."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

from vmrestore.catalog.store import COUNT_CAP, CatalogStore, HitCount, IndexStats, Repository, SearchHit, VersionInfo
from vmrestore.errors import InvalidInput
from vmrestore.model import ServerKey

__all__ = [
    "COUNT_CAP", "CatalogStore", "HitCount", "IndexStats", "Repository", "SearchHit", "VersionInfo",
    "display_url", "is_server_url", "open_store", "server_key", "split_password", "url_user", "with_password",
]


def is_server_url(url_or_path: str | Path) -> bool:
    """True for a shared PostgreSQL catalog (``postgresql://`` or ``postgres://``), False for a SQLite file."""
    return str(url_or_path).startswith(("postgresql://", "postgres://"))


def display_url(url: str) -> str:
    """A catalog location as it may be shown, logged and audited: any password replaced by ``***``."""
    return re.sub(r"(postgres(?:ql)?://[^:/@?]*):[^@/?]*@", r"\1:***@", url)


def split_password(url: str) -> tuple[str, str | None]:
    """``postgresql://u:pw@h/db`` → (``postgresql://u@h/db``, ``pw``): the URL that may be saved, and the
    password that goes to the keyring. Anything else comes back unchanged with ``None``."""
    if not is_server_url(url):
        return url, None
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{hostport}")), unquote(parts.password)


def with_password(url: str, password: str | None) -> str:
    """The URL to connect with (kept in memory only): ``password`` added when the URL names a user but no
    password; a URL that carries its own password keeps it."""
    if not password or not is_server_url(url):
        return url
    parts = urlsplit(url)
    if parts.password is not None or "@" not in parts.netloc:
        return url
    user, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{hostport}"))


def url_user(url: str) -> str:
    """The login named in a ``postgresql://`` URL ("" when none: libpq then uses the OS account)."""
    return unquote(urlsplit(url).username or "")


def server_key(url: str) -> ServerKey:
    """The catalog server as the keyring names it: ``host:port`` (5432 by default), the socket folder for a
    ``?host=/run/postgresql`` URL."""
    parts = urlsplit(url)
    host = parts.hostname or (parse_qs(parts.query).get("host") or ["localhost"])[0]
    try:
        port = parts.port or 5432
    except ValueError as exc:
        raise InvalidInput(f"The catalog URL {display_url(url)} has an invalid port") from exc
    return ServerKey(host.lower(), port)


def open_store(url_or_path: str | Path, password: str | None = None) -> CatalogStore:
    """Open the catalog named by ``VMRESTORE_CATALOG``: a SQLite file path (or ``sqlite:///path``), or a
    ``postgresql://`` URL for the shared team catalog (migrated to the current schema on open); ``password``
    (from the keyring) is used when the URL carries none."""
    text = str(url_or_path)
    if is_server_url(text):
        text = with_password(text, password)
        from vmrestore.catalog.pg_store import PostgresCatalogStore

        return PostgresCatalogStore(text)
    if text.startswith("sqlite:///"):
        text = (
            text[len("sqlite:///") - 1 :] if not text.startswith("sqlite:////") else text[len("sqlite:///") :]
        )
    elif "://" in text:
        raise InvalidInput(f"unsupported catalog URL {text!r}: expected a file path or postgresql://")
    from vmrestore.catalog.sqlite_store import SqliteCatalogStore

    return SqliteCatalogStore(text)
