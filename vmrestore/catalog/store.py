"""The catalog store interface: what the app layer may ask of a restore-point index.

SQLite (``sqlite_store``) is the single-workstation store; a PostgreSQL store for teams will
implement the same Protocol, so nothing here mentions a database type, and every value crossing the
boundary is a frozen dataclass from here or ``vmrestore.model``.

Paths inside a volume are absolute and '/' separated (``/Users/alice/Q3-report.xlsx``), as the disk
reader yields them in ``FileEntry.path``. A *volume* of a restore point is addressed by
``(point_id, disk_key, volume_index)``; ``disk_key`` must be stable across restore points of a VM
(the .vmx controller slot such as ``scsi0:0`` is), because dedup and ``versions`` compare the
"same" volume over time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Protocol

from vmrestore.model import DiskInfo, FileEntry, FileType, RestorePoint, VolumeInfo


@dataclass(frozen=True, slots=True)
class Repository:
    name: str
    path: str  # as this workstation sees it (local or UNC)
    nfs: str | None = None  # "host:/export" as the ESXi hosts see it (instant recovery mounts it)


@dataclass(frozen=True, slots=True)
class IndexStats:
    point_id: str
    disk_key: str
    volume_index: int
    entries: int  # entries read for this volume
    inserted: int  # new version rows (new or changed files)
    extended: int  # existing version rows that now also cover this point (unchanged files)
    skipped: bool  # True: this volume was already indexed, nothing was done
    seconds: float


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One distinct version of a file, found by name.

    A file unchanged across 30 restore points is one hit, not 30: ``point_id``/``created`` name the
    newest matching restore point that holds it (within the date range asked for), ``first_seen`` and
    ``last_seen`` the span of restore points that hold this exact version.
    """

    point_id: str
    vm: str
    created: datetime
    disk_key: str
    volume_index: int
    path: str
    name: str
    type: FileType
    size: int | None
    mtime: datetime | None
    first_seen: datetime
    last_seen: datetime


#: How many hits a count reads at most: beyond it the count is a lower bound ("5,000+"). Counting every
#: hit of a broad pattern ("report", "*.dll") in a catalog of 10 million versions reads hundreds of
#: thousands of rows (2-7 us each, measured on 10 million versions: 10,000 hits took 40-70 ms of CPU on a
#: loaded machine, 5,000 keep a count under the 50 ms goal); a helpdesk person only needs to know that the
#: search is too broad to read through.
COUNT_CAP = 5_000


@dataclass(frozen=True, slots=True)
class HitCount:
    """How many hits a search has: exact, or at least ``total`` when ``is_lower_bound`` (counting stopped
    at the cap it was asked with)."""

    total: int
    is_lower_bound: bool

    def text(self) -> str:
        """``"1,234"`` or ``"10,000+"``."""
        return f"{self.total:,}{'+' if self.is_lower_bound else ''}"


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """The file at one path in one restore point of the VM."""

    point_id: str
    created: datetime
    type: FileType
    size: int | None
    mtime: datetime | None
    changed: bool  # differs from the previous indexed restore point, or did not exist there


def disks_to_json(disks: tuple[DiskInfo, ...]) -> str:
    """A point's disks as both backends store them (one text column)."""
    return json.dumps([asdict(d) for d in disks])


def disks_from_json(text: str) -> tuple[DiskInfo, ...]:
    out = []
    for d in json.loads(text):
        vols = tuple(VolumeInfo(**v) for v in d.pop("volumes", []))
        out.append(DiskInfo(**d, volumes=vols))
    return tuple(out)


class PointClaim(Protocol):
    """This process's claim to index one restore point; ``release`` when done (a dead holder's claim lapses)."""

    def release(self) -> None: ...


class CatalogStore(Protocol):
    """Repositories, restore points and the guest-file index. Methods block: call from an executor."""

    def add_repository(self, repo: Repository) -> None: ...

    def list_repositories(self) -> list[Repository]: ...

    def remove_repository(self, name: str) -> int:
        """Forget a repository and its restore points (and their index); returns the points forgotten.

        Backup files are never touched. Index rows shared with another repository's points of the same
        VM are dropped too, so those volumes are indexed again by the next index run (never half-right).
        """
        ...

    def upsert_points(self, points: Iterable[RestorePoint]) -> int:
        """Insert new points and refresh known ones (status, size, disks); returns how many were new."""
        ...

    def get_point(self, point_id: str) -> RestorePoint: ...

    def list_points(self, vm: str | None = None, repo: str | None = None) -> list[RestorePoint]:
        """Newest first."""
        ...

    def is_indexed(self, point_id: str, disk_key: str, volume_index: int) -> bool: ...

    def try_claim(self, point_id: str) -> PointClaim | None:
        """Claim the indexing of ``point_id``, or None while another holder (another workstation) has it.

        A shared catalog keeps the claim in the database for as long as this process lives, so a crashed
        desk's claim is free again at once; a single-workstation catalog always grants it.
        """
        ...

    def index_volume(
        self,
        point_id: str,
        disk_key: str,
        volume_index: int,
        entries: Iterable[FileEntry],
        cancel: threading.Event | None = None,
    ) -> IndexStats:
        """Index one volume of one point in one transaction; a no-op when already indexed.

        Raises ``errors.Cancelled`` (and keeps nothing of this volume) when ``cancel`` is set.
        """
        ...

    def list_dir(self, point_id: str, disk_key: str, volume_index: int, path: str) -> list[FileEntry]:
        """Directories first, then by name."""
        ...

    def search(
        self,
        pattern: str,
        vm: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[SearchHit]:
        """Case-insensitive match on file names: a substring, or a glob if ``*?[`` appear in it."""
        ...

    def count_hits(
        self,
        pattern: str,
        vm: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cap: int = COUNT_CAP,
    ) -> HitCount:
        """How many hits ``search`` has with the same arguments and no limit: exact up to ``cap``, beyond
        it ``HitCount(cap, is_lower_bound=True)`` (a bounded query: it never reads more than cap + 1 hits)."""
        ...

    def versions(self, point_id: str, disk_key: str, volume_index: int, path: str) -> list[VersionInfo]:
        """The same path in every indexed restore point of the VM that holds it, newest first."""
        ...

    def close(self) -> None: ...
