"""The narrow ports the hot-add / guest-copy use cases take (the composition root passes the real services)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from vmrestore.catalog.store import Repository
from vmrestore.model import ExtractResult, Progress, RestorePoint


class MountCatalog(Protocol):
    """What the use cases need of ``CatalogService``."""

    def point(self, point_id: str) -> RestorePoint: ...

    def repository(self, name: str) -> Repository: ...

    def extract(
        self,
        point_id: str,
        paths: list[str],
        target_dir: str,
        conflict: Any = ...,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ExtractResult: ...
