"""Indexing restore points: discover them, read their disks, store every guest file in the catalog.

The heavy part (parsing a VMDK and walking a guest file system) runs in a worker *process* through
``ctx.run_in_process``: in a thread it would hold the GIL and freeze the window (TESTING.md). The worker
opens the catalog itself and writes one volume per transaction, so a cancel or a crash loses at most
the volume in progress, and running the job again resumes where it stopped (indexed volumes are
skipped by the store).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmrestore.catalog import open_store
from vmrestore.catalog.layout import discover, judge_disks
from vmrestore.catalog.store import CatalogStore, Repository
from vmrestore.disks.filesystems import open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.disks.volumes import list_volumes
from vmrestore.engine.jobcontext import JobContext
from vmrestore.errors import VmrestoreError
from vmrestore.model import DiskInfo, ResourceKey, RestorePoint, VolumeInfo, disk_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DiskIndexResult:
    volumes: tuple[VolumeInfo, ...]
    files: int
    errors: tuple[str, ...]


def index_disk(catalog: str, point_id: str, vmdk_path: str, disk_key: str) -> DiskIndexResult:
    """Worker-process entry point: index every readable volume of one disk of one restore point."""
    store = open_store(catalog)
    errors: list[str] = []
    damaged: dict[int, str] = {}
    files = 0
    try:
        with open_vmdk(vmdk_path) as disk:
            volumes = tuple(list_volumes(disk, what=vmdk_path))
            for volume in volumes:
                if not volume.readable:
                    errors.append(f"{point_id} {disk_key} volume {volume.index}: {volume.reason}")
                    continue
                if store.is_indexed(point_id, disk_key, volume.index):
                    continue
                try:
                    fs = open_filesystem(disk, volume.index, what=vmdk_path)
                    stats = store.index_volume(point_id, disk_key, volume.index, fs.scan("/"))
                    files += stats.entries
                    errors.extend(f"{point_id} {disk_key} volume {volume.index}: {note}" for note in fs.scan_warnings())
                except VmrestoreError as exc:
                    errors.append(f"{point_id} {disk_key} volume {volume.index}: {exc}")
                    damaged[volume.index] = str(exc)
        # A volume whose file system could not be read is listed as unreadable, with the reason.
        volumes = tuple(dataclasses.replace(v, readable=False, reason=damaged[v.index]) if v.index in damaged
                        else v for v in volumes)
        return DiskIndexResult(volumes=volumes, files=files, errors=tuple(errors))
    finally:
        store.close()


@dataclass
class IndexReport:
    points_added: int = 0
    files_indexed: int = 0
    errors: list[str] = field(default_factory=list)
    claimed_elsewhere: list[str] = field(default_factory=list)  # points another workstation was indexing


class IndexRepositoryJob:
    """Find new restore points in one or all repositories and index their guest files."""

    kind = "index"

    def __init__(self, store: CatalogStore, catalog: str, repos: list[Repository]) -> None:
        self._store = store
        self._catalog = catalog
        self._repos = repos
        names = ", ".join(r.name for r in repos) or "no repository"
        self.title = f"Index {names}"
        self.resource_keys: tuple[str, ...] = tuple(str(ResourceKey.repo(r.name)) for r in repos)

    async def run(self, ctx: JobContext) -> IndexReport:
        report = IndexReport()
        points: list[RestorePoint] = []
        for repo in self._repos:
            ctx.progress(None, f"Looking for restore points in {repo.path}")
            try:
                found = await ctx.run_blocking(discover, repo.path, repo.name)
            except OSError as exc:
                report.errors.append(f"repository {repo.name}: cannot read {repo.path}: {exc}")
                continue
            report.points_added += await ctx.run_blocking(self._store.upsert_points, found)
            points.extend(found)
        # Oldest first: consecutive points of a VM share most files, and the store extends the
        # previous point's rows instead of writing them again.
        todo = sorted((p for p in points if p.browsable), key=lambda p: (p.vm, p.created))
        report.errors += [f"{p.id}: damaged: {p.reason}" for p in points if p.status == "damaged"]
        disks_total = sum(len(p.disks) for p in todo) or 1
        done = 0
        for point in todo:
            # Several workstations may index one shared catalog: a point is read by one of them only.
            claim = await ctx.run_blocking(self._store.try_claim, point.id)
            if claim is None:
                report.claimed_elsewhere.append(point.id)
                done += len(point.disks)
                continue
            try:
                await self._index_point(ctx, point, report, done, disks_total)
            finally:
                await ctx.run_blocking(claim.release)
            done += len(point.disks)
        ctx.progress(1.0, f"{report.files_indexed} files indexed, {len(report.errors)} problems")
        return report

    async def _index_point(self, ctx: JobContext, point: RestorePoint, report: IndexReport, done: int,
                           disks_total: int) -> None:
        """Read every disk of one claimed point in a worker process and store its volumes."""
        new_disks: list[DiskInfo] = []
        for number, disk in enumerate(point.disks):
            ctx.check_cancelled()
            ctx.progress(done / disks_total, f"{point.vm} {point.created:%Y-%m-%d %H:%M}: disk {number}")
            done += 1
            if disk.error:
                report.errors.append(f"{point.id} {disk_key(number)}: {disk.error}")
                new_disks.append(disk)
                continue
            vmdk = str(Path(point.path) / disk.file)
            try:
                result: DiskIndexResult = await ctx.run_in_process(
                    index_disk, self._catalog, point.id, vmdk, disk_key(number))
            except VmrestoreError as exc:
                report.errors.append(f"{point.id} {disk_key(number)}: {exc}")
                new_disks.append(dataclasses.replace(disk, error=str(exc)))
                continue
            report.files_indexed += result.files
            report.errors.extend(result.errors)
            new_disks.append(dataclasses.replace(disk, volumes=result.volumes))
        checked = judge_disks(dataclasses.replace(point, disks=tuple(new_disks)))
        if checked.status == "damaged":  # each disk's reason is already a line of the report
            report.errors.append(f"{point.id}: indexed as damaged: no disk of it can be read")
        await ctx.run_blocking(self._store.upsert_points, [checked])


def report_json(report: IndexReport) -> dict[str, Any]:
    return {"points_added": report.points_added, "files_indexed": report.files_indexed, "errors": report.errors,
            "claimed_elsewhere": report.claimed_elsewhere}
