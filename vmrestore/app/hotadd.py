"""File restore into a VM, step 1: hot-add a backed-up disk and give it a drive letter in the guest.

``HotAdd.start`` checks the role, and returns a job that

1. makes the pre-flight reads (nothing is created before all pass): the disk's format is one ESXi opens
   as a parent (``catalog/esxi_formats``), the target is powered on with VMware Tools running and
   ``guestOperationsReady``, it has a free unit on an existing SCSI controller, its datastore is
   writable with room for the delta, and this point is not already mounted on it;
2. mounts the repository's NFS export read-only on the VM's host (or reuses the same export) and
   attaches the backup VMDK as the parent of a new linked delta (``app/mount.py``, journaled);
3. runs the constant mount script in the guest with the data in its environment and decides by its
   exit code (``app/guest_scripts.py``);
4. hands the journal entries to a lease (``engine/leases.py``) that ``mount stop`` or the expiry ends.

A failure after step 2 leaves the undo to the scheduler's safety net; a crash to the next sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import Any

from vmrestore.app.connection import ConnectionService
from vmrestore.app.guest_runner import run_script
from vmrestore.app.guest_scripts import (
    LINUX_MOUNT,
    WINDOWS_MOUNT,
    GuestStepFailed,
    check_letter,
    parse_letter,
)
from vmrestore.app.hotadd_ports import MountCatalog
from vmrestore.app.mount import attach_delta, ensure_nas
from vmrestore.app.ports import AuditTrail, RoleGate
from vmrestore.app.vm_lock import vm_locked
from vmrestore.catalog.esxi_formats import esxi_can_open, require_esxi_format
from vmrestore.engine.heartbeat import OwnerInfo
from vmrestore.engine.jobcontext import JobContext
from vmrestore.engine.leases import LeaseStore, new_lease_id
from vmrestore.errors import InsufficientSpace, InvalidInput, NotFound, VmrestoreError
from vmrestore.model import Action, DiskInfo, GuestCredentials, ResourceKey, RestorePoint, VmInfo, VolumeInfo
from vmrestore.vsphere import hotadd_checks, inventory
from vmrestore.vsphere.hotadd_checks import TargetVm
from vmrestore.vsphere.session import VsphereSession

log = logging.getLogger(__name__)

LEASE_KIND = "mount"
DEFAULT_TTL = timedelta(hours=4)
#: The delta only holds what the guest writes to a read-only volume (metadata): 1 GiB is plenty.
MIN_DELTA_ROOM = 1 << 30


class PreflightFailed(VmrestoreError):
    """A pre-flight check refused the mount before anything was created; ``code`` names the check."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class MountStartRequest:
    point: str
    vm: str  # the target VM's name (or moid)
    disk: int = 0
    letter: str | None = None
    ttl: timedelta = DEFAULT_TTL
    writable: bool = False


@dataclass(frozen=True, slots=True)
class MountSession:
    """A live (or stopped) hot-add mount as ``mount list`` shows it."""

    session: str
    vm: str
    vm_moid: str
    letter: str | None
    point: str
    disk: int
    datastore: str
    user: str
    workstation: str
    expires: datetime
    state: str
    #: The process that made the mount (workstation, OS user, pid, start, last heartbeat), if recorded.
    creator: OwnerInfo | None = None
    #: When the mount was made (the lease's creation).
    started: datetime | None = None
    #: Another workstation's (shared catalog): shown here, extended, copied from or unmounted there.
    colleague: bool = False


def find_vm(session: VsphereSession, name: str) -> tuple[str, str, str | None]:
    """(moid, name, host) of the VM called ``name`` (exact, else the only case-insensitive match)."""
    vms = inventory.list_vms(session)
    exact = [v for v in vms if v.name == name or v.moid == name]
    matches = exact or [v for v in vms if v.name.casefold() == name.casefold()]
    if len(matches) != 1:
        raise NotFound(f"No VM named {name!r}" if not matches else f"Several VMs are named {name!r}; give its id")
    return matches[0].moid, matches[0].name, matches[0].host


def export_path(point: RestorePoint, repo_path: str, disk: DiskInfo) -> str:
    """The disk's path relative to the repository's NFS export: ``VM/VM-2026-.../VM.vmdk``."""
    try:
        rel = PurePath(point.path).relative_to(PurePath(repo_path))
    except ValueError as exc:
        raise InvalidInput(f"{point.id} is not inside its repository folder {repo_path}") from exc
    return (rel / disk.file).as_posix()


def main_volume(point: RestorePoint, disk_index: int) -> VolumeInfo:
    """The volume that gets the letter: the largest readable one of the disk (read from it if not indexed)."""
    disk = point.disks[disk_index]
    volumes = list(disk.volumes)
    if not volumes:
        from vmrestore.disks.image import open_vmdk
        from vmrestore.disks.volumes import list_volumes

        vmdk = str(PurePath(point.path) / disk.file)
        with open_vmdk(vmdk) as image:
            volumes = list_volumes(image, what=vmdk)
    readable = [v for v in volumes if v.readable]
    if not readable:
        raise PreflightFailed("no_volume", f"{point.id} disk{disk_index} has no volume the guest could read")
    return max(readable, key=lambda v: (v.size, -v.index))


def preflight(session: VsphereSession, target: TargetVm, parent_suffix: str) -> None:
    """Raise :class:`PreflightFailed` with a plain message for the first check that fails."""
    if target.power_state != "poweredOn":
        raise PreflightFailed("vm_not_running", f"{target.name} is {target.power_state}; power it on first")
    if not target.tools_running or not target.guest_ops_ready:
        raise PreflightFailed(
            "tools_not_running",
            f"VMware Tools are not running in {target.name} (or not ready for guest operations); the disk "
            "could not be brought online. Start the VM's Tools, or copy with 'files push' once they run.")
    if target.free_slot is None:
        why = "has no SCSI controller" if target.scsi_controllers == 0 else "has no free unit on its SCSI controllers"
        raise PreflightFailed(
            "no_free_scsi_slot",
            f"{target.name} {why}. vmrestore does not add a controller to a running VM (that stuns it); "
            "remove a disk or use 'files push' instead.")
    if any(d.parent.endswith(parent_suffix) for d in target.our_deltas):
        raise PreflightFailed("already_mounted", f"This restore point disk is already mounted on {target.name}")
    if not target.host:
        raise PreflightFailed("no_host", f"{target.name} is not running on a host")
    room = hotadd_checks.datastore_room(session, target.host, target.vmx_datastore)
    if not room.accessible or not room.writable:
        raise PreflightFailed("datastore_not_writable",
                              f"Datastore {room.name} (for the delta disk) is not writable from the VM's host")
    if room.free_space < MIN_DELTA_ROOM:
        raise InsufficientSpace(f"Datastore {room.name} has {room.free_space >> 20} MiB free; the delta disk "
                                f"needs at least {MIN_DELTA_ROOM >> 20} MiB")


class HotAdd:
    """The use cases of hot-add file restore: start (here) and the session verbs (``hotadd_session``)."""

    def __init__(self, connection: ConnectionService, catalog: MountCatalog, leases: LeaseStore,
                 gate: RoleGate, audit: AuditTrail, lock_home: Path) -> None:
        """``lock_home``: where this workstation's per-VM lock files live (the app's home); with a shared
        catalog the lock is also the server's, so a mount onto a VM never overlaps another desk's."""
        self.connection = connection
        self.catalog = catalog
        self.leases = leases
        self.gate = gate
        self.audit = audit
        self.lock_home = lock_home

    def target_vms(self) -> list[VmInfo]:
        """Every VM, for the wizard's target list (blocking: call from an executor)."""
        return inventory.list_vms(self.connection.session)

    @staticmethod
    def method_for(point: RestorePoint, disk: int) -> tuple[bool, str]:
        """(hot-add possible, why) for the wizard's method page: the format rule in words."""
        if not 0 <= disk < len(point.disks):
            return False, f"{point.id} has no disk {disk}"
        fmt = point.disks[disk].format
        if esxi_can_open(fmt):
            return True, f"The backup disk is {fmt}, which ESXi attaches directly: the files appear as a drive " \
                         "in the VM within seconds, whatever their size."
        why = "it needs the host's multiextent module" if fmt.lower().startswith("twogb") else \
            "ESXi attaches only its own vmfs, vmfsSparse and seSparse disks"
        return False, f"The backup disk is {fmt}: it cannot be hot-added ({why}). The files are copied into the " \
                      "guest over VMware Tools instead (fine for a few files or folders)."

    def start(self, request: MountStartRequest, creds: GuestCredentials) -> MountStartJob:
        """Check the role and the request's shape; the job does the rest (submit it to the scheduler)."""
        self.gate.require(Action.MOUNT)
        letter = check_letter(request.letter)
        if request.ttl <= timedelta(0):
            raise InvalidInput("The lease must be longer than zero, e.g. --ttl 4h")
        point = self.catalog.point(request.point)
        if not 0 <= request.disk < len(point.disks):
            raise InvalidInput(f"{point.id} has {len(point.disks)} disk(s); there is no disk {request.disk}")
        disk = point.disks[request.disk]
        require_esxi_format(disk.format, f"{point.id} disk{request.disk} ({disk.file})")
        repo = self.catalog.repository(point.repo)
        if not repo.nfs:
            raise InvalidInput(f"Repository {repo.name} has no NFS export for the ESXi hosts; set it with "
                               f"'vmrestore repo edit {repo.name} --nfs HOST:/EXPORT', or use 'files push'")
        return MountStartJob(self, request, letter, point, repo.nfs, export_path(point, repo.path, disk), creds)


class MountStartJob:
    kind = "mount"

    def __init__(self, service: HotAdd, request: MountStartRequest, letter: str | None, point: RestorePoint,
                 export: str, rel_path: str, creds: GuestCredentials) -> None:
        self._s = service
        self.request = request
        self.letter = letter
        self.point = point
        self.export = export
        self.rel_path = rel_path
        self._creds = creds
        self.title = f"Mount {point.vm} {point.created:%Y-%m-%d %H:%M} disk{request.disk} on {request.vm}"
        self.resource_keys: tuple[str, ...] = (str(ResourceKey.point(point.id)), str(ResourceKey.vm(request.vm)))

    async def run(self, ctx: JobContext) -> MountSession:
        s, req = self._s, self.request
        session = s.connection.session
        with s.audit.audited(Action.MOUNT, f"{self.point.id} disk{req.disk} -> {req.vm}",
                             letter=self.letter, ttl_seconds=int(req.ttl.total_seconds())) as detail:
            ctx.progress(0.02, f"Checking {req.vm}")
            vm, vm_name, _ = await ctx.run_blocking(find_vm, session, req.vm)
            # One mount onto a VM at a time, across processes and desks: refused at once, naming the holder.
            async with vm_locked(ctx, s.lock_home, str(session.server), vm, vm_name):
                target = await ctx.run_blocking(hotadd_checks.read_target, session, vm)
                await ctx.run_blocking(preflight, session, target, f"] {self.rel_path}")
                volume = await ctx.run_blocking(main_volume, self.point, req.disk)
                ctx.check_cancelled()
                assert target.host is not None and target.free_slot is not None

                token = ctx.job_id.replace("-", "")[:12]
                ctx.progress(0.1, f"Mounting the repository {self.export} read-only on the host")
                use = await ensure_nas(ctx, session, target.host, self.export, token, self.point.repo)
                ctx.check_cancelled()
                parent = f"[{use.datastore}] {self.rel_path}"
                capacity = self.point.disks[req.disk].capacity
                ctx.progress(0.35, f"Attaching the backup disk to {vm_name} as a linked delta "
                                   "(the backup is read only)")
                disk, disk_entry = await attach_delta(ctx, session, vm, parent, capacity, token)
                ctx.check_cancelled()

                ctx.progress(0.6, "Bringing the disk online in the guest")
                env = {"VMR_SCSI_TARGET": str(disk.unit), "VMR_SCSI_BUS": str(target.free_slot.bus),
                       "VMR_SIZE": str(capacity), "VMR_VOLUME_OFFSET": str(volume.offset),
                       "VMR_LETTER": (self.letter or "R").lower() if target.is_linux else (self.letter or ""),
                       "VMR_WRITABLE": "1" if req.writable else "0"}
                script = LINUX_MOUNT if target.is_linux else WINDOWS_MOUNT
                result = await ctx.run_blocking(run_script, session, vm, self._creds, script, not target.is_linux, env)
                if result.report:
                    for line in result.report.splitlines():
                        ctx.log(line)
                if result.exit_code != 0:
                    raise GuestStepFailed("Bringing the disk online", result.exit_code, result.report)
                letter = self.letter or (env["VMR_LETTER"].upper() if target.is_linux else parse_letter(result.report))

                lease_id = new_lease_id()
                identity = s.connection.identity
                data: dict[str, Any] = {
                    "vm": vm, "vm_name": vm_name, "host": target.host, "point": self.point.id, "disk": req.disk,
                    "volume": volume.index, "volume_offset": volume.offset, "letter": letter,
                    "datastore": use.datastore, "datastore_created": use.created, "delta": disk.file, "parent": parent,
                    "capacity": capacity, "scsi_target": disk.unit, "scsi_bus": target.free_slot.bus,
                    "linux": target.is_linux, "writable": req.writable,
                }
                entries = [e for e in (use.entry, disk_entry) if e is not None]
                lease = await ctx.run_blocking(s.leases.adopt, lease_id, LEASE_KIND,
                                               identity.user if identity else "", req.ttl, data, entries)
                detail.update(session=lease.id, letter=letter, datastore=use.datastore, delta=disk.file)
                ctx.progress(1.0, f"Mounted as {letter + ':' if letter else 'a new drive'} in {vm_name} "
                                  f"until {lease.expires:%H:%M} UTC (session {lease.id})")
        return session_of(lease)


def session_of(lease: Any, *, colleague: bool = False) -> MountSession:
    d = lease.data
    return MountSession(session=lease.id, vm=str(d.get("vm_name", "")), vm_moid=str(d.get("vm", "")),
                        letter=d.get("letter"), point=str(d.get("point", "")), disk=int(d.get("disk", 0)),
                        datastore=str(d.get("datastore", "")), user=lease.user, workstation=lease.workstation,
                        expires=lease.expires, state=lease.state, creator=lease.creator, started=lease.created,
                        colleague=colleague)
