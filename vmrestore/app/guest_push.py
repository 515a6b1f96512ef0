"""Guest copy for any backup format: extract on this computer, upload into the VM with VMware Tools.

The path for small restores and for formats ESXi cannot hot-add (monolithicSparse, streamOptimized,
monolithicFlat, twoGbMaxExtentSparse). Files are extracted through the catalog into a private temporary
folder (timestamps kept, unsafe names made safe), then each is uploaded with guest file transfer,
its modification time passed along (the guest keeps it where it can). The same overwrite / keep-both /
skip choice as "Restore to this computer" applies to names that already exist in the guest.
Nothing is created on vSphere, so nothing is journaled; the temporary folder is always removed. The uploads
hold the VM's cross-process lock (``vm_lock``), as a mount onto it does; the extraction before them does not
(it touches only this computer).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from vmrestore.app.guest_scripts import check_guest_dir
from vmrestore.app.hotadd import HotAdd, find_vm
from vmrestore.app.hotadd_ports import MountCatalog
from vmrestore.app.vm_lock import vm_locked
from vmrestore.engine.jobcontext import JobContext
from vmrestore.errors import InvalidInput, VmrestoreError
from vmrestore.model import Action, GuestCredentials, ResourceKey
from vmrestore.vsphere import guestops, hotadd_checks
from vmrestore.vsphere.guestops import GuestFileExists
from vmrestore.vsphere.session import VsphereSession

IF_EXISTS = ("keep-both", "overwrite", "skip")


@dataclass
class PushResult:
    files: int = 0
    bytes: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)


def _join(dest: str, rel: str) -> str:
    sep = "/" if dest.startswith("/") else "\\"
    return dest.rstrip("\\/") + sep + rel.replace("/", sep)


def _keep_both_name(path: str, n: int) -> str:
    sep = "/" if path.startswith("/") else "\\"
    head, _, name = path.rpartition(sep)
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    return f"{head}{sep}{stem} ({n}){'.' + ext if ext else ''}"


class FilesPush:
    """``files push``: the use case (role, audit) and its job."""

    def __init__(self, hotadd: HotAdd, catalog: MountCatalog) -> None:
        self.h = hotadd
        self.catalog = catalog

    def push(self, point: str, paths: list[str], vm: str, dest: str, creds: GuestCredentials,
             if_exists: str = "keep-both") -> FilesPushJob:
        self.h.gate.require(Action.FILE_RESTORE)
        if if_exists not in IF_EXISTS:
            raise InvalidInput(f"--if-exists is one of {', '.join(IF_EXISTS)}")
        if not paths:
            raise InvalidInput("Name at least one file or folder to push")
        self.catalog.point(point)  # NotFound early, before any guest call
        return FilesPushJob(self, point, paths, vm, check_guest_dir(dest), creds, if_exists)


class FilesPushJob:
    kind = "files_push"

    def __init__(self, owner: FilesPush, point: str, paths: list[str], vm: str, dest: str,
                 creds: GuestCredentials, if_exists: str) -> None:
        self._o, self.point, self.paths, self.vm, self.dest = owner, point, paths, vm, dest
        self._creds, self.if_exists = creds, if_exists
        self.title = f"Copy {len(paths)} item(s) from {point} into {vm}:{dest}"
        self.resource_keys: tuple[str, ...] = (str(ResourceKey.vm(vm)),)

    async def run(self, ctx: JobContext) -> PushResult:
        h = self._o.h
        session = h.connection.session
        with h.audit.audited(Action.FILE_RESTORE, f"{self.point} -> {self.vm}:{self.dest}",
                             method="guest_copy", paths=len(self.paths)) as detail:
            vm, vm_name, _ = await ctx.run_blocking(find_vm, session, self.vm)
            target = await ctx.run_blocking(hotadd_checks.read_target, session, vm)
            if target.power_state != "poweredOn" or not target.guest_ops_ready:
                raise VmrestoreError(f"VMware Tools are not running in {vm_name} (or the VM is off); guest copy "
                                     "needs them")
            work = tempfile.mkdtemp(prefix="vmrestore-push-")
            try:
                ctx.progress(0.05, "Extracting from the backup on this computer")
                extracted = await ctx.run_blocking(self._o.catalog.extract, self.point, self.paths, work,
                                                   "keep_both", None, ctx.cancel_event)
                ctx.progress(0.4, f"Copying {extracted.files} file(s) into {vm_name}")
                # Never while another process (or desk) mounts onto, copies into or unmounts from this VM.
                async with vm_locked(ctx, h.lock_home, str(session.server), vm, vm_name):
                    result = await ctx.run_blocking(self._upload_tree, ctx, session, vm, Path(work))
                result.skipped[:0] = [{"path": s.path, "reason": s.reason} for s in extracted.skipped]
            finally:
                shutil.rmtree(work, ignore_errors=True)
            detail.update(files=result.files, bytes=result.bytes, skipped=len(result.skipped),
                          failed=len(result.failed))
        ctx.progress(1.0, f"{result.files} file(s) copied into {vm_name}:{self.dest}")
        return result

    def _upload_tree(self, ctx: JobContext, session: VsphereSession, vm: str, root: Path) -> PushResult:
        result = PushResult()
        guestops.make_directory(session, vm, self._creds, self.dest)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            if rel_dir != ".":
                guestops.make_directory(session, vm, self._creds, _join(self.dest, rel_dir))
            for name in sorted(filenames):
                ctx.check_cancelled()
                local = Path(dirpath) / name
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                self._upload_one(session, vm, local, _join(self.dest, rel), result)
        return result

    def _upload_one(self, session: VsphereSession, vm: str, local: Path, guest_path: str,
                    result: PushResult) -> None:
        stat = local.stat()
        mtime = datetime.fromtimestamp(stat.st_mtime, UTC)
        target, n = guest_path, 0
        while True:
            try:
                with local.open("rb") as f:
                    guestops.upload(session, vm, self._creds, target, f, stat.st_size,
                                    overwrite=self.if_exists == "overwrite", mtime=mtime)
                result.files += 1
                result.bytes += stat.st_size
                return
            except GuestFileExists:
                if self.if_exists == "skip":
                    result.skipped.append({"path": guest_path, "reason": "exists in the guest"})
                    return
                n += 1
                if n > 999:
                    result.failed.append({"path": guest_path, "reason": "no free name for keep-both"})
                    return
                target = _keep_both_name(guest_path, n)
            except VmrestoreError as exc:
                result.failed.append({"path": guest_path, "reason": str(exc)})
                return
