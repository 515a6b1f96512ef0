"""What the Restore points page needs from the application layer, as structural types.

The composition root passes the real ``AppServices`` (``vmrestore.app.bootstrap``); tests pass the same real
services over a real repository. Typing against these small Protocols keeps the page honest about what it
uses: the catalog's blocking calls (always run in an executor)
and the restore use case (role gate, audit entry and jobs, the same the CLI calls).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from vmrestore.app.catalog_service import HitCount, RepositoryInfo, SearchHit, VersionInfo
from vmrestore.app.restore import Conflict, ExtractRequest
from vmrestore.model import ExtractResult, FileEntry, Progress, RestorePoint

if TYPE_CHECKING:
    from vmrestore.app.catalog_service import Repository
    from vmrestore.app.ports import RunningJob as JobHandle

__all__ = ["CatalogLike", "Conflict", "FileRestorePort", "RestoreServices"]


class CatalogLike(Protocol):
    """``vmrestore.app.catalog_service.CatalogService``: every method blocks."""

    location: str

    def repositories(self) -> list[RepositoryInfo]: ...

    def points(self, vm: str | None = None, repo: str | None = None) -> list[RestorePoint]: ...

    def point(self, point_id: str) -> RestorePoint: ...

    def list_dir(self, point_id: str, path: str = "/") -> list[FileEntry]: ...

    def search(
        self,
        pattern: str,
        vm: str | None = None,
        limit: int = 100,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[SearchHit]: ...

    def count_hits(
        self,
        pattern: str,
        vm: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> HitCount: ...

    def versions(self, point_id: str, path: str) -> list[VersionInfo]: ...

    def extract(self, point_id: str, paths: list[str], target_dir: str, conflict: Conflict = "keep_both",
                on_progress: Callable[[Progress], None] | None = None,
                cancel: threading.Event | None = None) -> ExtractResult: ...


class FileRestorePort(Protocol):
    """``vmrestore.app.restore.FileRestore``: the role gate, the audit entry and the jobs, as the CLI uses them."""

    def check_extract(self) -> None: ...

    def start_extract(self, request: ExtractRequest) -> JobHandle: ...

    def start_index(self, repos: Sequence[Repository]) -> JobHandle: ...


class RestoreServices(Protocol):
    @property
    def catalog(self) -> CatalogLike: ...

    @property
    def restore(self) -> FileRestorePort: ...
