"""Mount a restore point's disk on a running VM: the journaled steps of file restore.

Steps, each written to the journal *before* it is done so that a crash is swept at the next start:

1. mount the backup repository's NFS export read-only on the VM's host (``vsphere.nas_mounted``);
2. attach the backed-up VMDK as the parent of a new linked delta next to the VM (``vsphere.disk_attached``);
3. keep it attached until the operator stops the session or its time-to-live ends;
4. detach (destroying only our delta) and unmount, releasing the journal entries.

A failure or a cancel at any point leaves the undo to the scheduler's safety net
(``Sweeper.undo_job``), and a crash leaves it to the next sweep. Bringing the disk online as a drive
letter inside Windows needs VMware Tools guest operations; that step plugs in after step 2.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from vmrestore.app.connection import ConnectionService
from vmrestore.app.undo import DISK_ATTACHED, NAS_MOUNTED
from vmrestore.engine.jobcontext import JobContext
from vmrestore.vsphere import disks_hotadd, nas


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
    """A job that holds a backed-up disk attached to a VM for the session's lifetime."""

    kind = "mount"

    def __init__(self, connection: ConnectionService, request: MountRequest,
                 attached: asyncio.Event | None = None) -> None:
        self._connection = connection
        self.request = request
        self.attached = attached or asyncio.Event()  # set once the disk is on the VM
        self.title = f"Mount {request.disk_path} on {request.vm}"
        self.resource_keys: tuple[str, ...] = (f"vm:{request.vm}",)

    async def run(self, ctx: JobContext) -> MountResult:
        req, session = self.request, self._connection.session
        token = ctx.job_id.replace("-", "")[:12]
        datastore = f"vmrestore-{token}"
        journal = ctx.journal

        ctx.progress(0.05, f"Mounting {req.export} on the host as {datastore} (read-only)")
        nas_entry = await ctx.run_blocking(
            journal.begin, ctx.job_id, NAS_MOUNTED, f"host:{req.host}", {"export": req.export},
            {"host": req.host, "name": datastore})
        await ctx.run_blocking(nas.mount_nas, session, req.host, req.export, datastore)
        await ctx.run_blocking(journal.created, nas_entry)
        ctx.check_cancelled()

        parent = f"[{datastore}] {req.disk_path}"
        delta = await ctx.run_blocking(disks_hotadd.delta_path, session, req.vm, token)
        ctx.progress(0.4, f"Attaching {req.disk_path} to the VM as a linked delta")
        disk_entry = await ctx.run_blocking(
            journal.begin, ctx.job_id, DISK_ATTACHED, f"vm:{req.vm}", {"parent": parent},
            {"vm": req.vm, "file": delta})
        await ctx.run_blocking(disks_hotadd.attach_linked_delta, session, req.vm, parent, delta, req.capacity)
        await ctx.run_blocking(journal.created, disk_entry)
        started = time.monotonic()
        self.attached.set()
        ctx.progress(0.5, f"Attached as {delta}; detaching automatically after {req.ttl_seconds:.0f} s")

        await self._hold(ctx, req.ttl_seconds)

        ctx.progress(0.8, "Detaching the disk (only our delta file is deleted)")
        await ctx.run_blocking(disks_hotadd.detach_disk, session, req.vm, delta)
        await ctx.run_blocking(journal.released, disk_entry)
        ctx.progress(0.9, f"Unmounting {datastore}")
        await ctx.run_blocking(nas.unmount_nas, session, req.host, datastore)
        await ctx.run_blocking(journal.released, nas_entry)
        ctx.progress(1.0, "Detached and unmounted")
        return MountResult(vm=req.vm, datastore=datastore, delta_file=delta, parent=parent,
                           attached_seconds=time.monotonic() - started)

    @staticmethod
    async def _hold(ctx: JobContext, seconds: float) -> None:
        """Wait for the TTL, waking up to notice a cancel (stop) promptly."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ctx.check_cancelled()
            await asyncio.sleep(min(left, 0.2))



