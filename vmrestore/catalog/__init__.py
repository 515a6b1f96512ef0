"""Restore-point discovery (ghettoVCB layout, .vmx and VMDK descriptors) and the guest-file index store."""

from __future__ import annotations

from pathlib import Path

from vmrestore.catalog.store import CatalogStore, IndexStats, Repository, SearchHit, VersionInfo
from vmrestore.errors import InvalidInput

__all__ = ["CatalogStore", "IndexStats", "Repository", "SearchHit", "VersionInfo", "open_store"]


def open_store(url_or_path: str | Path) -> CatalogStore:
    """Open the catalog named by ``VMRESTORE_CATALOG``: a SQLite file path (or ``sqlite:///path``).

    ``postgresql://`` URLs are reserved for the team store that implements the same Protocol.
    """
    text = str(url_or_path)
    if text.startswith(("postgresql://", "postgres://")):
        raise InvalidInput("a PostgreSQL catalog is not supported by this build yet; use a SQLite file path")
    if text.startswith("sqlite:///"):
        text = (
            text[len("sqlite:///") - 1 :] if not text.startswith("sqlite:////") else text[len("sqlite:///") :]
        )
    elif "://" in text:
        raise InvalidInput(f"unsupported catalog URL {text!r}: expected a file path or postgresql://")
    from vmrestore.catalog.sqlite_store import SqliteCatalogStore

    return SqliteCatalogStore(text)
