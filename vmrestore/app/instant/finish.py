"""Finishing an instant recovery: Storage vMotion to production (migrate), or throw it away (discard).

Migrate trusts nothing it is told: a relocate can report success and move nothing, so afterwards every
disk's whole backing chain is read back, and the VM counts as migrated only when no file of it is on
the backup datastore any more. Discard deletes only our files on the writable datastore. Both unmount
the export when we mounted it and nothing else uses it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmrestore.app.connection import ConnectionService
from vmrestore.app.instant.records import DISCARDED, MIGRATED, MIGRATING, RUNNING, InstantRecords, InstantVm
from vmrestore.app.undo import INSTANT_DISCARDING, INSTANT_MIGRATING
from vmrestore.app.vm_lock import vm_locked
from vmrestore.engine.jobcontext import JobContext
from vmrestore.errors import InsufficientSpace, InvalidInput, Transient, VmrestoreError
from vmrestore.model import ResourceKey
from vmrestore.vsphere import hotadd_checks, instant_ops, instant_vm, nas
from vmrestore.vsphere import placement as place
from vmrestore.vsphere.session import VsphereSession

MiB = 1024 * 1024
log = logging.getLogger(__name__)


class StillOnBackup(VmrestoreError):
    """vCenter said the migration finished, but a disk still reads from the backup datastore."""

    code = "still_on_backup"


@dataclass(frozen=True, slots=True)
class FinishResult:
    id: str
    vm: str
    state: str
    datastore: str
    unmounted: str | None
    network_connected: int = 0
    deleted: tuple[str, ...] = ()
    backings: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "vm": self.vm, "state": self.state, "datastore": self.datastore,
                "unmounted": self.unmounted, "network_connected": self.network_connected,
                "deleted": list(self.deleted), "backings": list(self.backings)}


def unmount_if_unused(session: VsphereSession, records: InstantRecords, rec: InstantVm) -> str | None:
    """Unmount the backup datastore when this desk mounted it and no other instant VM (of any desk) or VM uses it.

    A datastore another desk (or an admin's ``repo mount``) mounted is never unmounted here, and neither is
    one a colleague's instant VM still runs from: its record on the shared catalog counts, and so does
    any VM with a file on it (read from vCenter, whoever made it).
    """
    if not records.mounted_by_us(rec.host, rec.backup_datastore):
        return None  # someone else's mount (e.g. 'repo mount' by an admin): not ours to remove
    try:
        if records.others_using(rec.host, rec.backup_datastore, but=rec.id):  # any desk's, shared catalog
            return None
    except Transient:
        log.warning("the shared catalog cannot say whether a colleague's instant VM uses %s; left mounted",
                    rec.backup_datastore)
        return None
    moid = nas.find_datastore(session, rec.host, rec.backup_datastore)
    if moid is None:
        return None
    # Any other VM with a file on it (a hot-added disk of file restore that reused this mount, say).
    if [vm for vm in hotadd_checks.datastore_users(session, rec.backup_datastore) if vm != rec.vm]:
        return None
    return rec.backup_datastore if nas.unmount_nas(session, rec.host, rec.backup_datastore) else None


def _active(records: InstantRecords, instant_id: str, verb: str) -> InstantVm:
    rec = records.get(instant_id)
    if rec.state not in (RUNNING, MIGRATING):
        raise InvalidInput(f"{rec.id} ({rec.name}) is {rec.state}; only a running instant VM can be {verb}")
    return rec


class MigrateInstantJob:
    kind = "instant_migrate"

    def __init__(self, connection: ConnectionService, records: InstantRecords, instant_id: str, datastore: str,
                 connect_network: bool = False, *, lock_home: Path) -> None:
        self._connection = connection
        self._records = records
        self._lock_home = lock_home
        self.record = _active(records, instant_id, "migrated")
        self.datastore = datastore
        self.connect_network = connect_network
        self.title = f"Migrate {self.record.name} to {datastore}"
        self.resource_keys: tuple[str, ...] = (str(ResourceKey.vm(self.record.vm)),)

    def preflight(self) -> place.DatastoreMount:
        """Blocking checks before anything moves: target writable on the host, room for the full disks."""
        session, rec = self._connection.session, self.record
        p = place.host_placement(session, rec.host)
        target = p.datastore(self.datastore)
        if target.name == rec.backup_datastore or not target.writable:
            raise InvalidInput(f"{target.name} is not a writable production datastore on {rec.host_name}")
        disks = instant_ops.disk_backings(session, rec.vm)
        # Consolidated thin disks take at most their capacity: ask for that, as vSphere's own check does.
        need = int(rec.detail.get("capacity", 0) or 0)
        if target.free_space < need:
            raise InsufficientSpace(f"{target.name} has {target.free_space // MiB} MiB free; the consolidated "
                                    f"disks of {rec.name} need up to {need // MiB} MiB")
        if not disks:
            raise InvalidInput(f"{rec.name} has no virtual disk; nothing to migrate")
        return target

    async def run(self, ctx: JobContext) -> FinishResult:
        """Under the VM's cross-process lock: another process or desk working on this VM is refused at once."""
        async with vm_locked(ctx, self._lock_home, str(self._connection.session.server), self.record.vm,
                             self.record.name):
            return await self._run(ctx)

    async def _run(self, ctx: JobContext) -> FinishResult:
        session, rec, journal = self._connection.session, self.record, ctx.journal
        target = await ctx.run_blocking(self.preflight)
        # Journaled before the first change, its step moved forward before each next one: a crash at any
        # step is finished (or set back to running) by the sweep from what it reads back (instant/recover.py).
        undo = {"id": rec.id, "datastore": target.name, "connect_network": self.connect_network, "step": "migrating"}
        entry = await ctx.run_blocking(journal.begin, ctx.job_id, INSTANT_MIGRATING, str(ResourceKey.vm(rec.vm)),
                                       {"datastore": target.name}, undo)

        async def step(name: str) -> None:
            await ctx.run_blocking(journal.update_undo, entry, {**undo, "step": name})

        rec = await ctx.run_blocking(lambda: self._records.update(rec.id, state=MIGRATING))
        ctx.progress(0.02, f"Storage vMotion of {rec.name} to {target.name} (consolidating off the backup)")

        def on_progress(pct: int | None) -> None:
            if pct is not None:
                ctx.progress(0.02 + 0.88 * pct / 100, f"Moving {rec.name} to {target.name}: {pct} %")

        await step("relocate")
        try:
            await ctx.run_blocking(instant_ops.relocate, session, rec.vm, target.moid, on_progress, ctx.cancel_event)
        except BaseException:
            await ctx.run_blocking(lambda: self._records.update(rec.id, state=RUNNING))
            await ctx.run_blocking(journal.released, entry)
            raise
        ctx.progress(0.9, "Checking that no disk reads from the backup any more")
        backings = await ctx.run_blocking(instant_ops.disk_backings, session, rec.vm)
        left = [f for b in backings for f in b.chain if instant_ops.datastore_of(f) == rec.backup_datastore]
        vmx = await ctx.run_blocking(instant_ops.vm_path, session, rec.vm)
        if left or instant_ops.datastore_of(vmx) == rec.backup_datastore:
            await ctx.run_blocking(lambda: self._records.update(rec.id, state=RUNNING))
            await ctx.run_blocking(journal.released, entry)
            raise StillOnBackup(f"vCenter reported the migration of {rec.name} done, but it still uses "
                                f"{', '.join(left or [vmx])} on the backup datastore; it keeps running from the "
                                "backup and nothing was unmounted. Try again, or migrate it in the vSphere Client.")
        connected = 0
        if self.connect_network:
            ctx.progress(0.93, "Connecting the network")
            await step("connect_network")
            connected = await ctx.run_blocking(instant_ops.connect_nics, session, rec.vm)
        ctx.progress(0.95, "Marking the VM migrated")
        await step("mark_migrated")
        note = await ctx.run_blocking(instant_ops.annotation, session, rec.vm)
        await ctx.run_blocking(instant_ops.set_annotation, session, rec.vm,
                               f"{note}\nMigrated to {target.name} by vmrestore; now an ordinary VM.")
        rec = await ctx.run_blocking(lambda: self._records.update(
            rec.id, state=MIGRATED, datastore=target.name,
            network=("connected" if connected else rec.network)))
        await step("unmount")
        unmounted = await ctx.run_blocking(unmount_if_unused, session, self._records, rec)
        await ctx.run_blocking(journal.released, entry)
        ctx.progress(1.0, f"{rec.name} runs from {target.name}" + (f"; unmounted {unmounted}" if unmounted else ""))
        return FinishResult(id=rec.id, vm=rec.name, state=MIGRATED, datastore=target.name, unmounted=unmounted,
                            network_connected=connected, backings=tuple(f for b in backings for f in b.chain))


@dataclass(frozen=True, slots=True)
class DiscardPlan:
    record: InstantVm
    delete: tuple[tuple[str, int], ...]  # files on the writable datastore that go
    keep: tuple[str, ...]  # files on the backup datastore that stay untouched
    unmount: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.record.id, "vm": self.record.name, "power_off": True,
                "delete": [{"path": p, "size": s} for p, s in self.delete], "keep": list(self.keep),
                "unmount": self.record.backup_datastore if self.unmount else None}


def plan_discard(session: VsphereSession, records: InstantRecords, instant_id: str) -> DiscardPlan:
    rec = _active(records, instant_id, "discarded")
    vmx = instant_ops.vm_path(session, rec.vm)
    ds_name = instant_ops.datastore_of(vmx)
    folder = vmx.split("] ", 1)[1].rsplit("/", 1)[0]
    ds_moid = nas.find_datastore(session, rec.host, ds_name)
    files = instant_vm.datastore_files(session, ds_moid, folder) if ds_moid else {}
    backings = instant_ops.disk_backings(session, rec.vm)
    ours = [(f"[{ds_name}] {folder}/{n}", s) for n, s in sorted(files.items()) if ds_name != rec.backup_datastore]
    keep = sorted({f for b in backings for f in b.chain if instant_ops.datastore_of(f) == rec.backup_datastore})
    unmount = records.mounted_by_us(rec.host, rec.backup_datastore) and not records.others_using(
        rec.host, rec.backup_datastore, but=rec.id)
    return DiscardPlan(record=rec, delete=tuple(ours), keep=tuple(keep), unmount=unmount)


class DiscardInstantJob:
    kind = "instant_stop"

    def __init__(self, connection: ConnectionService, records: InstantRecords, instant_id: str, *,
                 lock_home: Path) -> None:
        self._connection = connection
        self._records = records
        self._lock_home = lock_home
        self.record = _active(records, instant_id, "discarded")
        self.title = f"Discard {self.record.name}"
        self.resource_keys: tuple[str, ...] = (str(ResourceKey.vm(self.record.vm)),)

    async def run(self, ctx: JobContext) -> FinishResult:
        """Under the VM's cross-process lock: another process or desk working on this VM is refused at once."""
        async with vm_locked(ctx, self._lock_home, str(self._connection.session.server), self.record.vm,
                             self.record.name):
            return await self._run(ctx)

    async def _run(self, ctx: JobContext) -> FinishResult:
        session, rec, journal = self._connection.session, self.record, ctx.journal
        # Journaled before anything changes: a crash at any step is finished by the sweep (instant/recover.py).
        undo = {"id": rec.id, "step": "destroy"}
        entry = await ctx.run_blocking(journal.begin, ctx.job_id, INSTANT_DISCARDING, str(ResourceKey.vm(rec.vm)),
                                       {"datastore": rec.datastore}, undo)

        async def step(name: str) -> None:
            await ctx.run_blocking(journal.update_undo, entry, {**undo, "step": name})

        ctx.progress(0.1, f"Powering off {rec.name} and deleting its files on {rec.datastore}")
        try:
            deleted = await ctx.run_blocking(instant_ops.discard_vm, session, rec.vm, rec.backup_datastore)
        except BaseException:  # said to the operator, who may stop it again (discard_vm is idempotent)
            await ctx.run_blocking(journal.released, entry)
            raise
        await step("mark_discarded")
        rec = await ctx.run_blocking(lambda: self._records.update(rec.id, state=DISCARDED))
        ctx.progress(0.8, "Unmounting the backup if nothing else uses it")
        await step("unmount")
        unmounted = await ctx.run_blocking(unmount_if_unused, session, self._records, rec)
        await ctx.run_blocking(journal.released, entry)
        ctx.progress(1.0, f"{rec.name} discarded" + (f"; unmounted {unmounted}" if unmounted else ""))
        return FinishResult(id=rec.id, vm=rec.name, state=DISCARDED, datastore=rec.datastore, unmounted=unmounted,
                            deleted=tuple(deleted))
