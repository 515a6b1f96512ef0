"""Restore-point discovery (ghettoVCB layout, .vmx and VMDK descriptors) and the guest-file index store."""

from __future__ import annotations

import re
from pathlib import Path

from vmrestore.catalog.store import CatalogStore, IndexStats, Repository, SearchHit, VersionInfo
from vmrestore.errors import InvalidInput

__all__ = [
    "CatalogStore", "IndexStats", "Repository", "SearchHit", "VersionInfo",
    "display_url", "is_server_url", "open_store",
]


def is_server_url(url_or_path: str | Path) -> bool:
    """True for a shared PostgreSQL catalog (``postgresql://`` or ``postgres://``), False for a SQLite file."""
    return str(url_or_path).startswith(("postgresql://", "postgres://"))


def display_url(url: str) -> str:
    """A catalog location as it may be shown, logged and audited: any password replaced by ``***``."""
    return re.sub(r"(postgres(?:ql)?://[^:/@?]*):[^@/?]*@", r"\1:***@", url)


def open_store(url_or_path: str | Path) -> CatalogStore:
    """Open the catalog named by ``VMRESTORE_CATALOG``: a SQLite file path (or ``sqlite:///path``), or a
    ``postgresql://`` URL for the shared team catalog (migrated to the current schema on open)."""
    text = str(url_or_path)
    if is_server_url(text):
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
