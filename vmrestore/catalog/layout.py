"""Finding restore points in a ghettoVCB backup repository.

ghettoVCB writes ``<repo>/<VM>/<VM>-YYYY-MM-DD_HH-MM-SS/`` (or ``<VM>-N/`` with its rotation-by-number
option), copies the .vmx and the VMDKs into it and, with ``ENABLE_COMPRESSION``, leaves a
``<VM>-<date>.gz``/``.tgz`` archive instead of the folder. Repositories also collect junk: scratch
files, half-deleted folders, other tools' data. Discovery lists what it can and explains what it
cannot (a point with ``status="error"`` and a ``reason``); it never raises for one bad point.

Times: ghettoVCB stamps folder names with the ESXi host's *local* clock, and ESXi hosts run on UTC
by default (VMware's guidance), so the stamp is read as UTC. A host configured otherwise shows
points shifted by its offset; the order is unaffected.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from vmrestore.catalog.descriptor import read_descriptor
from vmrestore.catalog.vmx import VmxDisk, read_vmx
from vmrestore.errors import CorruptImage
from vmrestore.model import DiskInfo, RestorePoint, disk_key

log = logging.getLogger(__name__)

_DATE = r"(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})"
_DATE_FORMAT = "%Y-%m-%d_%H-%M-%S"
_ARCHIVE = r"(\.tar\.gz|\.tgz|\.gz)"
_STATUS_RANK = {"error": 3, "warn": 2, "ok": 1}
# How deep to look for a disk that the .vmx names by an absolute datastore path (ghettoVCB puts
# disks of other datastores in sub-folders); deeper than this is not ghettoVCB's layout.
_MAX_DISK_SEARCH_DEPTH = 3


def _parse_stamp(stamp: str) -> datetime | None:
    try:
        return datetime.strptime(stamp, _DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:  # e.g. month 13: matches the pattern, is not a date
        return None


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC)


def _tree_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root, onerror=lambda _e: None):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def _read_status(folder: Path, names: list[str]) -> str:
    """STATUS.ok / STATUS.warn / STATUS.error; the worst one wins if a rerun left several."""
    found = [n.split(".", 1)[1].lower() for n in names if n.lower().startswith("status.")]
    ranked = [s for s in found if s in _STATUS_RANK]
    return max(ranked, key=_STATUS_RANK.__getitem__) if ranked else "unknown"


def _find_disk(folder: Path, disk: VmxDisk) -> Path | None:
    name = disk.file_name.replace("\\", "/")
    if not name.startswith("/"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    basename = name.rsplit("/", 1)[-1]
    candidate = folder / basename
    if candidate.is_file():
        return candidate
    for dirpath, dirs, files in os.walk(folder, onerror=lambda _e: None):
        depth = len(Path(dirpath).relative_to(folder).parts)
        if depth >= _MAX_DISK_SEARCH_DEPTH:
            dirs[:] = []
        if basename in files:
            return Path(dirpath) / basename
    return None


def _disk_info(folder: Path, disk: VmxDisk) -> DiskInfo:
    found = _find_disk(folder, disk)
    if found is None:
        return DiskInfo(
            file=disk.file_name,
            capacity=0,
            format="",
            controller_key=disk.controller_key,
            error=f"disk file {disk.file_name} is not in the restore point",
        )
    rel = found.relative_to(folder).as_posix()
    try:
        desc = read_descriptor(found)
    except (OSError, CorruptImage) as exc:
        return DiskInfo(
            file=rel,
            capacity=0,
            format="",
            controller_key=disk.controller_key,
            error=f"cannot read the disk descriptor: {exc}",
        )
    missing = [p.name for p in desc.extent_paths() if not p.is_file()]
    error = f"extent files missing: {', '.join(missing)}" if missing else None
    return DiskInfo(
        file=rel,
        capacity=desc.capacity,
        format=desc.create_type,
        controller_key=disk.controller_key,
        error=error,
    )


def _folder_point(repo: str, vm: str, folder: Path, created: datetime) -> RestorePoint:
    point_id = f"{repo}/{vm}/{folder.name}"

    def unusable(reason: str, size: int = 0) -> RestorePoint:
        """A point that is listed (so the operator sees it) with why it cannot be browsed."""
        return RestorePoint(id=point_id, repo=repo, vm=vm, created=created, path=str(folder), status="error",
                            browsable=False, size=size, reason=reason)

    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        return unusable(f"cannot list the folder: {exc.strerror or exc}")
    status = _read_status(folder, names)
    size = _tree_size(folder)
    vmx_names = [n for n in names if n.lower().endswith(".vmx") and (folder / n).is_file()]
    if not vmx_names:
        return unusable("no .vmx file in the restore point (incomplete backup?)", size)
    preferred = f"{vm}.vmx".lower()
    vmx_name = next((n for n in vmx_names if n.lower() == preferred), vmx_names[0])
    try:
        vmx = read_vmx(folder / vmx_name)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return unusable(f"cannot read {vmx_name}: {exc}", size)
    disks = tuple(_disk_info(folder, d) for d in vmx.disks)
    point = RestorePoint(id=point_id, repo=repo, vm=vm, created=created, path=str(folder), status=status,
                         size=size, disks=disks)
    if not disks:
        return dataclasses.replace(point, browsable=False, reason=f"{vmx_name} names no virtual disk")
    return judge_disks(point)


def judge_disks(point: RestorePoint) -> RestorePoint:
    """A point none of whose disks can be read is ``damaged`` (or stays ``error`` when ghettoVCB said the
    backup failed) and not browsable, with each disk's reason; otherwise it is returned as is.

    Called by discovery (descriptor damage) and again by the index job (damage that only opening the
    image finds: a sparse header, a grain directory), so a point that cannot be read is never left
    listed as ``ok`` and browsable.
    """
    if not point.disks or any(d.error is None for d in point.disks):
        return point
    reasons = "; ".join(f"{disk_key(number)}: {disk.error}" for number, disk in enumerate(point.disks))
    reasons = reasons.replace(f"{point.path}{os.sep}", "")  # file names relative to the point's folder
    if point.status == "error":  # ghettoVCB itself said the backup failed: that stays the headline
        return dataclasses.replace(point, browsable=False, reason=f"the backup failed: {reasons}")
    return dataclasses.replace(point, status="damaged", browsable=False, reason=reasons)


def _vm_points(repo: str, vm_dir: Path) -> Iterator[RestorePoint]:
    vm = vm_dir.name
    dated = re.compile(rf"^{re.escape(vm)}-{_DATE}$")
    numbered = re.compile(rf"^{re.escape(vm)}-(\d+)$")
    archived = re.compile(rf"^{re.escape(vm)}-(?:{_DATE}|(\d+)){_ARCHIVE}$")
    try:
        entries = sorted(vm_dir.iterdir())
    except OSError as exc:
        log.warning("skipping %s: %s", vm_dir, exc)
        return
    for entry in entries:
        try:
            if entry.is_dir():
                m = dated.match(entry.name)
                if m:
                    created = _parse_stamp(m.group(1))
                    if created is not None:
                        yield _folder_point(repo, vm, entry, created)
                    continue
                if numbered.match(entry.name):
                    # Numbered rotation carries no date: the .vmx copy's mtime is when the backup ran.
                    vmx = entry / f"{vm}.vmx"
                    yield _folder_point(repo, vm, entry, _mtime(vmx if vmx.is_file() else entry))
                continue
            m = archived.match(entry.name)
            if m and entry.is_file():
                created = _parse_stamp(m.group(1)) if m.group(1) else _mtime(entry)
                if created is None:
                    continue
                yield RestorePoint(
                    id=f"{repo}/{vm}/{entry.name}",
                    repo=repo,
                    vm=vm,
                    created=created,
                    path=str(entry),
                    status="compressed",
                    browsable=False,
                    size=entry.stat().st_size,
                    reason="compressed by ghettoVCB: decompress it to browse",
                )
        except OSError as exc:  # vanished or unreadable while we looked: skip this one entry only
            log.warning("skipping %s: %s", entry, exc)


def discover(repo_root: str | Path, repo_name: str) -> list[RestorePoint]:
    """Every restore point under ``repo_root``, newest first per VM, VMs in name order.

    Raises OSError only when the repository root itself cannot be listed (wrong path, share down):
    that is the operator's problem to fix, unlike one damaged point.
    """
    root = Path(repo_root)
    points: list[RestorePoint] = []
    for vm_dir in sorted(root.iterdir()):
        if vm_dir.name.startswith(".") or not vm_dir.is_dir():
            continue
        points.extend(_vm_points(repo_name, vm_dir))
    points.sort(key=lambda p: (p.vm, -p.created.timestamp(), p.id))
    return points
