"""Start an instant recovery: the journaled steps that get a VM running from its backup.

1. mount the repository's export read-only on the host (or reuse an exact read-only match) —
   journaled as ``vsphere.nas_mounted``;
2. check the host sees the restore point on it;
3. create the VM on the writable datastore from the backup's hardware, each disk a linked delta over
   the backup VMDK — journaled as ``vsphere.vm_created`` (undo: power off, delete our deltas, destroy);
4. copy the backup's .nvram into the VM's folder — journaled as ``vsphere.file_copied``;
5. power on (answering the "moved or copied" question), read Tools state and IP;
6. record the instant VM and release the journal entries: from here it is kept on purpose, until the
   operator migrates or discards it.

A failure, a cancel or a crash at any step leaves the open entries to the scheduler's safety net or
the next sweep, which undo them newest first (VM before datastore).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vmrestore.app.connection import ConnectionService
from vmrestore.app.instant.plan import ISOLATED, StartPlan
from vmrestore.app.instant.records import RUNNING, InstantRecords, InstantVm
from vmrestore.app.undo import FILE_COPIED, NAS_MOUNTED, VM_CREATED
from vmrestore.engine.jobcontext import JobContext
from vmrestore.errors import NotFound
from vmrestore.model import ResourceKey, ResourceKind
from vmrestore.vsphere import instant_ops, instant_vm, nas
from vmrestore.vsphere.instant_vm import InstantDisk, InstantVmSpec


@dataclass(frozen=True, slots=True)
class StartResult:
    id: str
    vm: str
    moref: str
    datastore: str
    network: str
    state: str
    host: str
    point: str
    backup_datastore: str
    reused_mount: bool
    power: str
    tools: str
    ip: str | None
    questions_answered: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "vm": self.vm, "moref": self.moref, "datastore": self.datastore,
                "network": self.network, "state": self.state, "host": self.host, "point": self.point,
                "backup_datastore": self.backup_datastore, "reused_mount": self.reused_mount,
                "power": self.power, "tools": self.tools, "ip": self.ip}


def annotation_text(instant_id: str, point: str, started: datetime, user: str | None) -> str:
    return (f"vmrestore instant recovery {instant_id}\nSource restore point: {point}\n"
            f"Started {started.isoformat(timespec='seconds')} by {user or 'unknown'}. Runs from backup storage "
            "until migrated (vmrestore instant migrate) or discarded (vmrestore instant stop).")


class StartInstantJob:
    kind = "instant_start"

    def __init__(self, connection: ConnectionService, records: InstantRecords, plan: StartPlan) -> None:
        self._connection = connection
        self._records = records
        self.plan = plan
        self.instant_id = "ir-" + uuid.uuid4().hex[:8]
        self.title = f"Instant recovery of {plan.point.vm} as {plan.name}"
        self.resource_keys: tuple[str, ...] = (
            str(ResourceKey.point(plan.point.id)), str(ResourceKey(ResourceKind.DATASTORE, plan.datastore.moid)))

    async def run(self, ctx: JobContext) -> StartResult:
        plan, session, journal = self.plan, self._connection.session, ctx.journal
        p = plan.placement
        token = self.instant_id[3:]
        entries: list[int] = []

        if plan.reuse is not None:
            backup_ds, backup_moid = plan.reuse.name, plan.reuse.moid
            ctx.progress(0.05, f"Using {plan.export}, already mounted read-only as {backup_ds}")
        else:
            backup_ds = f"vmrestore-ir-{token}"
            ctx.progress(0.05, f"Mounting {plan.export} on {p.host_name} as {backup_ds} (read-only)")
            entry = await ctx.run_blocking(journal.begin, ctx.job_id, NAS_MOUNTED, str(ResourceKey.host(p.host)),
                                           {"export": plan.export},
                                           # a colleague's start may reuse it meanwhile: never pulled from under it
                                           {"host": p.host, "name": backup_ds, "only_if_unused": True})
            entries.append(entry)
            mounted = await ctx.run_blocking(nas.mount_nas, session, p.host, plan.export, backup_ds)
            backup_moid = mounted.datastore
            await ctx.run_blocking(journal.created, entry)
        ctx.check_cancelled()

        ctx.progress(0.15, f"Looking for {plan.folder_in_export} on {backup_ds}")
        try:
            seen = await ctx.run_blocking(instant_vm.datastore_files, session, backup_moid, plan.folder_in_export)
        except NotFound as exc:
            raise NotFound(f"Host {p.host_name} does not see {plan.folder_in_export} on {plan.export}; check the "
                           "repository's NFS export") from exc
        missing = [d.file for d in plan.disks if d.file not in seen] + ([plan.vmx_file] if plan.vmx_file not in seen
                                                                       else [])
        if missing:
            raise NotFound(f"{plan.export} mounted on {p.host_name} lacks {', '.join(missing)} in "
                           f"{plan.folder_in_export}; the repository's NFS export is not the folder the catalog read")
        ctx.check_cancelled()

        started = datetime.now(UTC)
        identity = self._connection.identity
        disks = tuple(
            InstantDisk(slot=d.slot, capacity=d.capacity, parent=f"[{backup_ds}] {plan.folder_in_export}/{d.file}",
                        file=instant_vm.delta_file(plan.datastore.name, plan.name, n))
            for n, d in enumerate(plan.disks))
        spec = InstantVmSpec(
            name=plan.name, datastore=plan.datastore.name, hardware=plan.hardware, disks=disks, network=plan.network,
            nic_backing=plan.nic_backing, hw_version=plan.hw_version,
            annotation=annotation_text(self.instant_id, plan.point.id, started, identity.user if identity else None))
        ctx.progress(0.3, f"Creating {plan.name} on {plan.datastore.name} with {len(disks)} linked delta disk(s)")
        undo = {"name": plan.name, "vmx": spec.vmx_path, "backup_datastore": backup_ds, "vm": None}
        vm_entry = await ctx.run_blocking(journal.begin, ctx.job_id, VM_CREATED, f"vm-name:{plan.name}",
                                          {"point": plan.point.id}, undo)
        entries.append(vm_entry)
        vm = await ctx.run_blocking(instant_vm.create_vm, session, plan.folder, plan.pool, p.host, spec)
        await ctx.run_blocking(journal.update_undo, vm_entry, {**undo, "vm": vm})
        await ctx.run_blocking(journal.created, vm_entry)
        ctx.check_cancelled()

        if plan.nvram:
            target = f"{spec.folder}/{plan.name}.nvram"
            ctx.progress(0.5, f"Copying {plan.nvram} (firmware settings) to {target}")
            file_entry = await ctx.run_blocking(journal.begin, ctx.job_id, FILE_COPIED, str(ResourceKey.vm(vm)),
                                                {"source": plan.nvram}, {"datacenter": p.datacenter, "path": target})
            entries.append(file_entry)
            await ctx.run_blocking(instant_vm.copy_file, session, p.datacenter,
                                   f"[{backup_ds}] {plan.folder_in_export}/{plan.nvram}", target)
            await ctx.run_blocking(journal.created, file_entry)
            ctx.check_cancelled()

        ctx.progress(0.65, f"Powering on {plan.name}")
        answered = await ctx.run_blocking(instant_ops.power_on, session, vm, ctx.cancel_event)
        ctx.progress(0.8, "Waiting for VMware Tools to report an IP address")
        guest = await ctx.run_blocking(instant_ops.wait_guest, session, vm, plan.request.ip_wait_seconds,
                                       ctx.cancel_event)

        record = InstantVm(
            id=self.instant_id, name=plan.name, vm=vm, point=plan.point.id, host=p.host, host_name=p.host_name,
            datastore=plan.datastore.name, backup_datastore=backup_ds, mounted_by_us=plan.reuse is None,
            network=plan.network or ISOLATED, state=RUNNING, started=started, updated=started,
            detail={"export": plan.export, "datacenter": p.datacenter, "backup_datastore_moid": backup_moid,
                    "disks": [d.file for d in disks], "capacity": sum(d.capacity for d in disks)})
        await ctx.run_blocking(self._records.add, record)
        for entry in entries:  # kept on purpose from here: the record owns them
            await ctx.run_blocking(journal.released, entry)
        ip = f", IP {guest.ip}" if guest.ip else ""
        ctx.progress(1.0, f"{plan.name} is {guest.power}; VMware Tools: {guest.tools}{ip}")
        return StartResult(id=self.instant_id, vm=plan.name, moref=vm, datastore=plan.datastore.name,
                           network=record.network, state=RUNNING, host=p.host_name, point=plan.point.id,
                           backup_datastore=backup_ds, reused_mount=plan.reuse is not None, power=guest.power,
                           tools=guest.tools, ip=guest.ip, questions_answered=len(answered))
