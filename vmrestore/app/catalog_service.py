"""The restore-point catalog as the operator uses it: repositories, points, browse, search, extract.

Every method blocks (catalog queries, disk reads): the GUI calls them through ``run_in_executor`` and
the CLI directly. Listing a folder answers from the index when that volume is indexed and reads the
backup's disk otherwise, so a point is browsable before (or without) indexing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vmrestore.catalog.store import COUNT_CAP, CatalogStore, HitCount, Repository, SearchHit, VersionInfo

__all__ = ["COUNT_CAP", "CatalogService", "HitCount", "Repository", "RepositoryInfo", "SearchHit", "VersionInfo"]
# The disk readers (dissect, ~0.2 s to import) load on first use: CLI commands that never read a
# backup's disk (e.g. ``snapshots scan``) start without them.
if TYPE_CHECKING:
    from vmrestore.app.catalog_index import IndexRepositoryJob
    from vmrestore.disks.extract import Conflict
from vmrestore.errors import CorruptImage, InvalidInput, NotFound, UnsupportedFormat
from vmrestore.model import (
    DiskInfo,
    ExtractResult,
    FileEntry,
    FileType,
    GuestPath,
    Progress,
    RestorePoint,
    SkippedEntry,
    disk_key,
)


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    repo: Repository
    points: int


class CatalogService:
    def __init__(self, store: CatalogStore, catalog_location: str, *, connect_url: str | None = None) -> None:
        self.store = store
        self.location = catalog_location  # as saved and shown: never holds the keyring's password
        self._connect_url = connect_url or catalog_location  # what index workers open (memory only)

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

        return IndexRepositoryJob(self.store, self._connect_url, repos)

    def points(self, vm: str | None = None, repo: str | None = None) -> list[RestorePoint]:
        return self.store.list_points(vm=vm, repo=repo)

    def point(self, point_id: str) -> RestorePoint:
        return self.store.get_point(point_id)

    # -- browsing --------------------------------------------------------------------------------
    def readable_point(self, point_id: str) -> RestorePoint:
        """The point, or the reason it cannot be read: compressed (exit 1, ``unsupported_format``) or
        damaged (``corrupt_image``, naming the damage)."""
        point = self.point(point_id)
        if point.browsable:
            return point
        if point.status == "compressed":
            raise UnsupportedFormat("compressed", f"{point_id} cannot be browsed: {point.reason or 'it is compressed'}")
        raise CorruptImage(f"{point_id} cannot be read: {point.reason or f'the restore point is {point.status}'}")

    def _disk(self, point: RestorePoint, where: GuestPath) -> DiskInfo:
        assert where.disk is not None
        if where.disk >= len(point.disks):
            raise NotFound(f"{point.id} has {len(point.disks)} disk(s); there is no disk{where.disk}")
        disk = point.disks[where.disk]
        if disk.error:
            # A disk file that is not there is "not found"; one that is there and cannot be read is damaged.
            kind = CorruptImage if (Path(point.path) / disk.file).is_file() else NotFound
            raise kind(f"{point.id} disk{where.disk}: {disk.error}")
        return disk

    def list_dir(self, point_id: str, path: str = "/") -> list[FileEntry]:
        """The entries of one folder; the guest path of each is ``GuestPath.parse(path).child(entry.name)``."""
        point = self.readable_point(point_id)
        where = GuestPath.parse(path)
        if where.disk is None:
            return [FileEntry(path=str(GuestPath(i)), name=disk_key(i), type=FileType.DIR, size=d.capacity,
                              mtime=None) for i, d in enumerate(point.disks)]
        disk = self._disk(point, where)
        vmdk = str(Path(point.path) / disk.file)
        from vmrestore.disks.filesystems import open_filesystem
        from vmrestore.disks.image import open_vmdk
        from vmrestore.disks.volumes import list_volumes

        if where.volume is None:
            with open_vmdk(vmdk) as image:
                volumes = list_volumes(image, what=vmdk)
            return [FileEntry(path=str(GuestPath(where.disk, v.index)), name=GuestPath(where.disk, v.index).name,
                              type=FileType.DIR, size=v.size, mtime=None) for v in volumes]
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
        _check_search(pattern, since, until)
        return self.store.search(pattern, vm=vm, since=since, until=until, limit=limit)

    def count_hits(
        self,
        pattern: str,
        vm: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        cap: int = COUNT_CAP,
    ) -> HitCount:
        """How many hits ``search`` has with the same filters: exact up to ``cap``, "cap+" beyond it."""
        _check_search(pattern, since, until)
        return self.store.count_hits(pattern, vm=vm, since=since, until=until, cap=cap)

    def versions(self, point_id: str, path: str) -> list[VersionInfo]:
        where = GuestPath.parse(path)
        if not where.is_inside_volume:
            raise InvalidInput(f"Give a file path inside a volume, e.g. /disk0/vol1/Users/alice/a.txt: {path}")
        return self.store.versions(point_id, where.disk_key, where.volume or 0, where.path)

    # -- restoring -------------------------------------------------------------------------------
    def extract_plan(self, point_id: str, paths: list[str]) -> list[ExtractStep]:
        """What ``extract`` copies: one step per volume.

        Paths inside one volume land in the target folder itself (``/disk0/vol1/Users/alice`` →
        ``alice/``); a whole disk (``/disk0``) or the whole point (``/``) extracts each of its volumes
        into its own folder (``disk0-vol1/``), so two volumes' ``Windows`` folders never merge.
        """
        point = self.readable_point(point_id)
        wheres = [GuestPath.parse(p) for p in paths]
        if not wheres:
            raise InvalidInput("Name at least one file or folder to extract")
        inside = [w for w in wheres if w.volume is not None]
        if len({w.volume_root for w in inside}) > 1:
            raise InvalidInput("Extract files of one volume at a time (paths like /disk0/vol1/...), "
                               "or a whole disk (/disk0) or / for every volume, each into its own folder")
        steps: list[ExtractStep] = []
        if inside:
            self._disk(point, inside[0])
            steps.append(ExtractStep(inside[0].volume_root, tuple(w.path for w in inside)))
        whole_point = any(w.disk is None for w in wheres)
        disks = range(len(point.disks)) if whole_point else sorted({w.disk for w in wheres if w.volume is None
                                                                    and w.disk is not None})
        for number in disks:
            where = GuestPath(number)
            broken = point.disks[number].error if whole_point else None
            if broken:  # '/' takes what can be read and says what could not
                steps.append(ExtractStep(where, (), skip=broken))
                continue
            self._disk(point, where)
            steps.append(ExtractStep(where, ("/",)))  # volumes are listed when the disk is open
        return steps

    def extract(
        self,
        point_id: str,
        paths: list[str],
        target_dir: str,
        conflict: Conflict = "keep_both",
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ExtractResult:
        """Copy guest files/folders of a restore point to ``target_dir`` (see ``extract_plan``)."""
        from vmrestore.disks.extract import extract
        from vmrestore.disks.filesystems import open_filesystem
        from vmrestore.disks.image import open_vmdk
        from vmrestore.disks.volumes import list_volumes

        point = self.point(point_id)
        steps = self.extract_plan(point_id, paths)
        target = Path(target_dir)
        target.mkdir(parents=True, exist_ok=True)
        total = ExtractTotals()
        for number, step in enumerate(steps):
            if step.skip is not None:
                total.skipped.append(SkippedEntry(str(step.where), step.skip))
                continue
            vmdk = str(Path(point.path) / self._disk(point, step.where).file)

            def report(progress: Progress, done: int = number) -> None:
                if on_progress is not None:
                    fraction = None if progress.fraction is None else (done + progress.fraction) / len(steps)
                    on_progress(Progress(fraction, progress.text))

            with open_vmdk(vmdk) as image:
                if step.where.volume is not None:
                    fs = open_filesystem(image, step.where.volume, what=vmdk)
                    total.add(extract(fs, list(step.paths), target, conflict, report, cancel), "")
                    continue
                for volume in list_volumes(image, what=vmdk):
                    root = GuestPath(step.where.disk, volume.index)
                    if not volume.readable:
                        total.skipped.append(SkippedEntry(str(root), volume.reason or "this volume cannot be read"))
                        continue
                    fs = open_filesystem(image, volume.index, what=vmdk)
                    result = extract(fs, ["/"], target / root.volume_folder, conflict, report, cancel)
                    total.add(result, root.volume_folder + "/")
        return total.result()


@dataclass(frozen=True, slots=True)
class ExtractStep:
    """One volume (or every volume of a disk, ``where`` = ``/diskN``) of an extraction."""

    where: GuestPath
    paths: tuple[str, ...]  # inside the volume
    skip: str | None = None  # why this disk is left out of a whole-point extraction


@dataclass
class ExtractTotals:
    files: int = 0
    bytes: int = 0
    renamed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)

    def add(self, result: ExtractResult, prefix: str) -> None:
        self.files += result.files
        self.bytes += result.bytes
        self.renamed += [(guest, prefix + local) for guest, local in result.renamed]
        self.skipped += result.skipped

    def result(self) -> ExtractResult:
        return ExtractResult(self.files, self.bytes, tuple(self.renamed), tuple(self.skipped))


def _check_search(pattern: str, since: datetime | None, until: datetime | None) -> None:
    if not pattern.strip():
        raise InvalidInput("Give a file name or a pattern to search for")
    if since and until and since > until:
        raise InvalidInput("The search's date range ends before it starts")
