"""Mount a restore point's disk on a running VM: the journaled steps shared by file restore and instant VMs.

Steps, each written to the journal *before* it is done so that a crash is swept at the next start:

1. :func:`ensure_nas`: the backup repository's NFS export, read-only, on the VM's host
   (``vsphere.nas_mounted``); an NFS datastore already mounted from exactly the same remote host and
   path is reused instead (and then never unmounted by us);
2. :func:`attach_delta`: the backed-up VMDK as the parent of a new linked delta on a writable
   datastore (``vsphere.disk_attached``); the backup file is only ever read;
3. :func:`detach_delta` / :func:`unmount_nas_if_unused`: the reverse, each releasing its entry.

A failure or a cancel at any point leaves the undo to the scheduler's safety net
(``Sweeper.undo_job``), and a crash leaves it to the next sweep. :class:`MountDiskJob` holds a disk
for a fixed time (the engine's crash tests use it); ``app/hotadd.py`` keeps one as a lease instead.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

from vmrestore.app.ports import SessionSource
from vmrestore.app.undo import DISK_ATTACHED, NAS_MOUNTED
from vmrestore.engine.jobcontext import JobContext
from vmrestore.errors import PermissionDenied
from vmrestore.model import ResourceKey
from vmrestore.vsphere import disks_hotadd, hotadd_checks, nas
from vmrestore.vsphere.disks_hotadd import AttachedDisk
from vmrestore.vsphere.session import VsphereSession

#: Datastores a mount creates are named ``vmrestore-<12 hex>``; ``repo mount`` uses ``vmrestore-repo-<name>``.
AUTO_DATASTORE = re.compile(r"^vmrestore-[0-9a-f]{12}$")


class NfsMountDenied(PermissionDenied):
    """The account may not mount NFS on the host; an admin can mount the repository ahead of time."""

    code = "no_permission"


@dataclass(frozen=True, slots=True)
class NasUse:
    datastore: str  # name
    created: bool  # True: we mounted it for this operation (and unmount it when nothing uses it)
    entry: int | None  # its journal entry while the operation owns it


async def ensure_nas(ctx: JobContext, session: VsphereSession, host: str, export: str, token: str,
                     repo_hint: str = "NAME") -> NasUse:
    """The export as a read-only datastore on ``host``: reused when mounted from exactly the same place."""
    remote_host, remote_path = nas.split_export(export)
    existing = await ctx.run_blocking(hotadd_checks.find_nas, session, host, remote_host, remote_path)
    if existing:
        ctx.progress(None, f"Using datastore {existing} (already mounted from {export})")
        return NasUse(existing, False, None)
    name = f"vmrestore-{token}"
    ctx.progress(None, f"Mounting {export} on the host as {name} (read-only)")
    entry = await ctx.run_blocking(
        ctx.journal.begin, ctx.job_id, NAS_MOUNTED, str(ResourceKey.host(host)), {"export": export},
        {"host": host, "name": name, "only_if_unused": True})
    try:
        await ctx.run_blocking(nas.mount_nas, session, host, export, name)
    except PermissionDenied as exc:
        raise NfsMountDenied(
            exc.privilege, exc.obj,
            f"This vCenter account may not mount NFS datastores on the host (privilege "
            f"{exc.privilege or 'Host.Config.Storage'}). Ask an admin to mount the repository ahead of time: "
            f"vmrestore repo mount {repo_hint} --host <host>",
        ) from exc
    await ctx.run_blocking(ctx.journal.created, entry)
    return NasUse(name, True, entry)


async def attach_delta(ctx: JobContext, session: VsphereSession, vm: str, parent: str, capacity: int,
                       token: str, datastore: str | None = None) -> tuple[AttachedDisk, int]:
    """Attach ``parent`` (read only) under a new delta next to the VM (or on ``datastore``); journaled."""
    delta = await ctx.run_blocking(disks_hotadd.delta_path, session, vm, token, datastore)
    entry = await ctx.run_blocking(
        ctx.journal.begin, ctx.job_id, DISK_ATTACHED, str(ResourceKey.vm(vm)), {"parent": parent},
        {"vm": vm, "file": delta})
    disk = await ctx.run_blocking(disks_hotadd.attach_linked_delta, session, vm, parent, delta, capacity)
    await ctx.run_blocking(ctx.journal.created, entry)
    return disk, entry


async def detach_delta(ctx: JobContext, session: VsphereSession, vm: str, delta: str, entry: int) -> None:
    """Detach our delta (destroying only it) and release its journal entry."""
    await ctx.run_blocking(disks_hotadd.detach_disk, session, vm, delta)
    await ctx.run_blocking(ctx.journal.released, entry)


async def unmount_nas_if_unused(ctx: JobContext, session: VsphereSession, host: str, name: str,
                                entry: int) -> bool:
    """Unmount the datastore unless a VM still has a file on it; release the entry either way."""
    users = await ctx.run_blocking(hotadd_checks.datastore_users, session, name)
    unmounted = False
    if not users:
        unmounted = await ctx.run_blocking(nas.unmount_nas, session, host, name)
    await ctx.run_blocking(ctx.journal.released, entry)
    return unmounted


@dataclass(frozen=True, slots=True)
class MountRequest:
    vm: str  # target VM moid
    host: str  # the host the VM runs on: the repository is mounted there
    export: str  # the repository as ESXi sees it, "nas01:/backups"
    disk_path: str  # the backed-up VMDK relative to the export, "VM1/VM1-2026-11-20_01-00-00/VM1.vmdk"
    capacity: int  # bytes
    ttl_seconds: float = 4 * 3600


@dataclass(frozen=True, slots=True)
class MountResult:
    vm: str
    datastore: str
    delta_file: str
    parent: str
    attached_seconds: float


class MountDiskJob:
    """A job that holds a backed-up disk attached to a VM for a fixed time, then removes it."""

    kind = "mount"

    def __init__(self, connection: SessionSource, request: MountRequest,
                 attached: asyncio.Event | None = None) -> None:
        self._connection = connection
        self.request = request
        self.attached = attached or asyncio.Event()  # set once the disk is on the VM
        self.title = f"Mount {request.disk_path} on {request.vm}"
        self.resource_keys: tuple[str, ...] = (str(ResourceKey.vm(request.vm)),)

    async def run(self, ctx: JobContext) -> MountResult:
        req, session = self.request, self._connection.session
        token = ctx.job_id.replace("-", "")[:12]
        ctx.progress(0.05, f"Mounting {req.export} on the host (read-only)")
        use = await ensure_nas(ctx, session, req.host, req.export, token)
        ctx.check_cancelled()

        parent = f"[{use.datastore}] {req.disk_path}"
        ctx.progress(0.4, f"Attaching {req.disk_path} to the VM as a linked delta")
        disk, disk_entry = await attach_delta(ctx, session, req.vm, parent, req.capacity, token)
        started = time.monotonic()
        self.attached.set()
        ctx.progress(0.5, f"Attached as {disk.file}; detaching automatically after {req.ttl_seconds:.0f} s")

        await self._hold(ctx, req.ttl_seconds)

        ctx.progress(0.8, "Detaching the disk (only our delta file is deleted)")
        await detach_delta(ctx, session, req.vm, disk.file, disk_entry)
        if use.entry is not None:
            ctx.progress(0.9, f"Unmounting {use.datastore}")
            await unmount_nas_if_unused(ctx, session, req.host, use.datastore, use.entry)
        ctx.progress(1.0, "Detached and unmounted")
        return MountResult(vm=req.vm, datastore=use.datastore, delta_file=disk.file, parent=parent,
                           attached_seconds=time.monotonic() - started)

    @staticmethod
    async def _hold(ctx: JobContext, seconds: float) -> None:
        """Wait for the TTL, waking up to notice a cancel (stop) promptly."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ctx.check_cancelled()
            await asyncio.sleep(min(left, 0.2))
