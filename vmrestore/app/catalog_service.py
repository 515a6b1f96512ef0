"""The restore-point catalog as the operator uses it: repositories, points, browse, search, extract.

Every method blocks (catalog queries, disk reads): the GUI calls them through ``run_in_executor`` and
the CLI directly. Listing a folder answers from the index when that volume is indexed and reads the
backup's disk otherwise, so a point is browsable before (or without) indexing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vmrestore.app.guest_paths import GuestPath, parse_guest_path
from vmrestore.catalog.store import CatalogStore, Repository, SearchHit, VersionInfo

__all__ = ["CatalogService", "Repository", "RepositoryInfo", "SearchHit", "VersionInfo"]
# The disk readers (dissect, ~0.2 s to import) load on first use: CLI commands that never read a
# backup's disk (e.g. ``snapshots scan``) start without them.
if TYPE_CHECKING:
    from vmrestore.app.catalog_index import IndexRepositoryJob
    from vmrestore.disks.extract import Conflict
from vmrestore.errors import InvalidInput, NotFound
from vmrestore.model import DiskInfo, ExtractResult, FileEntry, FileType, Progress, RestorePoint


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    repo: Repository
    points: int


class CatalogService:
    def __init__(self, store: CatalogStore, catalog_location: str) -> None:
        self.store = store
        self.location = catalog_location

    # -- repositories and points -----------------------------------------------------------------
    def add_repository(self, name: str, path: str, nfs: str | None) -> Repository:
        if not name or "/" in name or "\\" in name:
            raise InvalidInput(f"A repository name must be non-empty without slashes: {name!r}")
        if not Path(path).is_dir():
            raise NotFound(f"The repository folder {path} does not exist or is not reachable")
        repo = Repository(name=name, path=str(Path(path).resolve()), nfs=nfs)
        self.store.add_repository(repo)
        return repo

    def repositories(self) -> list[RepositoryInfo]:
        counts: dict[str, int] = {}
        for point in self.store.list_points():
            counts[point.repo] = counts.get(point.repo, 0) + 1
        return [RepositoryInfo(r, counts.get(r.name, 0)) for r in self.store.list_repositories()]

    def list_repository_names(self) -> list[str]:
        return [r.name for r in self.store.list_repositories()]

    def remove_repository(self, name: str) -> int:
        """Forget ``name`` and its restore points; returns how many points were forgotten."""
        return self.store.remove_repository(name)

    def repository(self, name: str) -> Repository:
        for repo in self.store.list_repositories():
            if repo.name == name:
                return repo
        raise NotFound(f"No repository named {name!r}; add it in Settings › Repositories or with 'vmrestore repo add'")

    def index_job(self, repos: list[Repository]) -> IndexRepositoryJob:
        """The job that discovers and indexes ``repos`` (submit it to the scheduler)."""
        from vmrestore.app.catalog_index import IndexRepositoryJob

        return IndexRepositoryJob(self.store, self.location, repos)

    def points(self, vm: str | None = None, repo: str | None = None) -> list[RestorePoint]:
        return self.store.list_points(vm=vm, repo=repo)

    def point(self, point_id: str) -> RestorePoint:
        return self.store.get_point(point_id)

    # -- browsing --------------------------------------------------------------------------------
    def _disk(self, point: RestorePoint, where: GuestPath) -> DiskInfo:
        assert where.disk is not None
        if where.disk >= len(point.disks):
            raise NotFound(f"{point.id} has {len(point.disks)} disk(s); there is no disk{where.disk}")
        disk = point.disks[where.disk]
        if disk.error:
            raise NotFound(f"{point.id} disk{where.disk}: {disk.error}")
        return disk

    def list_dir(self, point_id: str, path: str = "/") -> list[FileEntry]:
        point = self.point(point_id)
        if not point.browsable:
            raise InvalidInput(f"{point_id} is {point.status} and cannot be browsed")
        where = parse_guest_path(path)
        if where.disk is None:
            return [FileEntry(path=f"/disk{i}", name=f"disk{i}", type=FileType.DIR, size=d.capacity, mtime=None)
                    for i, d in enumerate(point.disks)]
        disk = self._disk(point, where)
        vmdk = str(Path(point.path) / disk.file)
        from vmrestore.disks.filesystems import open_filesystem
        from vmrestore.disks.image import open_vmdk
        from vmrestore.disks.volumes import list_volumes

        if where.volume is None:
            with open_vmdk(vmdk) as image:
                volumes = list_volumes(image, what=vmdk)
            return [FileEntry(path=f"/disk{where.disk}/vol{v.index}", name=f"vol{v.index}", type=FileType.DIR,
                              size=v.size, mtime=None) for v in volumes]
        if self.store.is_indexed(point_id, where.disk_key, where.volume):
            return self.store.list_dir(point_id, where.disk_key, where.volume, where.path)
        with open_vmdk(vmdk) as image:
            return open_filesystem(image, where.volume, what=vmdk).listdir(where.path)

    def search(
        self,
        pattern: str,
        vm: str | None = None,
        limit: int = 100,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[SearchHit]:
        """Substring or glob over every indexed restore point, optionally of one VM and a date range."""
        if not pattern.strip():
            raise InvalidInput("Give a file name or a pattern to search for")
        if since and until and since > until:
            raise InvalidInput("The search's date range ends before it starts")
        return self.store.search(pattern, vm=vm, since=since, until=until, limit=limit)

    def versions(self, point_id: str, path: str) -> list[VersionInfo]:
        where = parse_guest_path(path)
        if where.disk is None or where.volume is None:
            raise InvalidInput(f"Give a file path inside a volume, e.g. /disk0/vol1/Users/alice/a.txt: {path}")
        return self.store.versions(point_id, where.disk_key, where.volume, where.path)

    # -- restoring -------------------------------------------------------------------------------
    def extract(
        self,
        point_id: str,
        paths: list[str],
        target_dir: str,
        conflict: Conflict = "keep_both",
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ExtractResult:
        """Copy guest files/folders out of one volume of a restore point to ``target_dir``."""
        from vmrestore.disks.extract import extract
        from vmrestore.disks.filesystems import open_filesystem
        from vmrestore.disks.image import open_vmdk

        point = self.point(point_id)
        wheres = [parse_guest_path(p) for p in paths]
        if not wheres:
            raise InvalidInput("Name at least one file or folder to extract")
        volumes = {(w.disk, w.volume) for w in wheres}
        if len(volumes) != 1 or None in next(iter(volumes)):
            raise InvalidInput("Extract files of one volume at a time (paths like /disk0/vol1/...)")
        first = wheres[0]
        disk = self._disk(point, first)
        vmdk = str(Path(point.path) / disk.file)
        Path(target_dir).mkdir(parents=True, exist_ok=True)
        assert first.volume is not None
        with open_vmdk(vmdk) as image:
            fs = open_filesystem(image, first.volume, what=vmdk)
            return extract(fs, [w.path for w in wheres], target_dir, conflict, on_progress, cancel)
