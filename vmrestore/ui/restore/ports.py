"""What the Restore points page needs from the application layer, as structural types.

The composition root passes the real ``AppServices`` (``vmrestore.app.bootstrap``); tests pass the same real
services over a real repository. Typing against these small Protocols keeps the page honest about what it
uses: the catalog's blocking calls (always run in an executor), the scheduler (to queue an index job),
the role gate and the audit log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Literal, Protocol

from vmrestore.app.catalog_service import RepositoryInfo, SearchHit, VersionInfo
from vmrestore.model import Action, ExtractResult, FileEntry, Progress, RestorePoint

Conflict = Literal["keep_both", "overwrite", "skip"]  # as vmrestore.app's CatalogService.extract takes it


class CatalogLike(Protocol):
    """``vmrestore.app.catalog_service.CatalogService``: every method blocks."""

    location: str

    def repositories(self) -> list[RepositoryInfo]: ...

    def index_job(self, repos: list[Any]) -> Any: ...

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

    def versions(self, point_id: str, path: str) -> list[VersionInfo]: ...

    def extract(self, point_id: str, paths: list[str], target_dir: str, conflict: Conflict = "keep_both",
                on_progress: Callable[[Progress], None] | None = None,
                cancel: threading.Event | None = None) -> ExtractResult: ...


class JobSubmitter(Protocol):
    def submit(self, job: Any) -> Any: ...


class RestoreServices(Protocol):
    @property
    def catalog(self) -> CatalogLike: ...

    @property
    def scheduler(self) -> JobSubmitter: ...

    def require(self, action: Action) -> None: ...

    def audited(self, action: Action, target: str, **detail: Any) -> AbstractContextManager[dict[str, Any]]: ...
