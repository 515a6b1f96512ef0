"""Everything instant recovery checks before it changes anything: the plan of a start.

A start that would fail half-way must fail here instead, with a plain message and nothing created: the
restore point and its .vmx, every disk's format (ESXi opens only vmfs / vmfsSparse / seSparse parents),
the repository's NFS export, the host, the writable datastore and room for the deltas, the name, the
port group and the host's virtual hardware versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vmrestore.catalog.descriptor import chain
from vmrestore.catalog.esxi_formats import require_esxi_format
from vmrestore.catalog.store import Repository
from vmrestore.catalog.vmx import VmxHardware, hardware_of, read_vmx
from vmrestore.errors import AlreadyExists, InsufficientSpace, InvalidInput, NotFound, VmrestoreError
from vmrestore.model import RestorePoint
from vmrestore.vsphere import placement as place
from vmrestore.vsphere.session import VsphereSession

ISOLATED = "isolated"
MiB = 1024 * 1024
# Room a start needs on the writable datastore besides the deltas' growth: swap (the VM's memory, no
# reservation), nvram, logs and delta metadata.
OVERHEAD_BYTES = 256 * MiB
# The deltas grow with every write the guest makes until the VM is migrated; a recovery that runs for
# a day on a busy server writes a few percent of its disks. Ask for 10 % up front.
DELTA_RESERVE = 0.10
_BAD_NAME = re.compile(r"[/\\%]")


@dataclass(frozen=True, slots=True)
class StartRequest:
    point: str
    host: str
    datastore: str | None = None
    pool: str | None = None
    folder: str | None = None
    name: str | None = None
    network: str = ISOLATED
    ip_wait_seconds: float = 20.0


@dataclass(frozen=True, slots=True)
class PlannedDisk:
    slot: str  # "scsi0:0"
    file: str  # descriptor relative to the point folder
    format: str
    capacity: int


@dataclass(frozen=True, slots=True)
class StartPlan:
    request: StartRequest
    point: RestorePoint
    export: str  # "nas01:/backups"
    folder_in_export: str  # "web01/web01-2026-11-20_01-00-00"
    vmx_file: str
    hardware: VmxHardware
    disks: tuple[PlannedDisk, ...]
    nvram: str | None  # the nvram file in the point folder, when the backup has one
    placement: place.HostPlacement
    datastore: place.DatastoreMount
    reuse: place.DatastoreMount | None  # an existing read-only mount of the export on the host
    pool: str
    folder: str
    name: str
    network: str | None  # None: isolated
    nic_backing: str
    hw_version: int | None
    needed_bytes: int

    def to_json(self) -> dict[str, object]:
        return {
            "point": self.point.id, "vm": self.name, "host": self.placement.host_name,
            "datastore": self.datastore.name, "free": self.datastore.free_space, "needed": self.needed_bytes,
            "export": self.export, "reuse_mount": self.reuse.name if self.reuse else None,
            "network": self.network or ISOLATED, "hw_version": self.hw_version,
            "disks": [{"slot": d.slot, "file": d.file, "format": d.format, "capacity": d.capacity}
                      for d in self.disks],
        }


def default_name(vm: str, now: datetime | None = None) -> str:
    return f"{vm}-restored-{(now or datetime.now(UTC)).strftime('%Y-%m-%d')}"


def needed_bytes(hardware: VmxHardware, capacities: list[int]) -> int:
    """Free space a start asks of the writable datastore (see ``DELTA_RESERVE``)."""
    return hardware.memory_mb * MiB + OVERHEAD_BYTES + int(sum(capacities) * DELTA_RESERVE)


def read_point(point: RestorePoint, repo: Repository) -> tuple[str, VmxHardware, list[PlannedDisk], str | None, str]:
    """The point's .vmx, disks (format-checked) and nvram, read on the workstation; no vSphere call."""
    if point.path.endswith(".gz") or point.status == "compressed":
        raise InvalidInput(f"{point.id} is a compressed backup; a VM cannot run from it")
    if point.status == "error":
        raise InvalidInput(f"{point.id} is a failed backup (STATUS.error); pick another restore point")
    folder = Path(point.path)
    vmx_files = sorted(folder.glob("*.vmx"))
    if not vmx_files:
        raise NotFound(f"{point.id} has no .vmx file; a VM cannot be re-created from it")
    try:
        info = read_vmx(vmx_files[0])
    except (OSError, ValueError) as exc:
        raise NotFound(f"Cannot read {vmx_files[0]}: {exc}") from exc
    hardware = hardware_of(info)
    if not hardware.disks:
        raise InvalidInput(f"{vmx_files[0].name} names no virtual disk")
    disks = []
    for d in hardware.disks:
        if d.file_name.startswith("/"):
            raise InvalidInput(f"{vmx_files[0].name}: disk {d.controller_key} points outside the backup "
                               f"({d.file_name})")
        path = folder / d.file_name
        try:
            descriptors = chain(path)
        except OSError as exc:
            raise NotFound(f"{point.id}: cannot read disk {d.file_name}: {exc}") from exc
        for desc in descriptors:
            require_esxi_format(desc.create_type, f"{point.id} disk {Path(desc.path).name}")
        disks.append(PlannedDisk(d.controller_key, d.file_name, descriptors[0].create_type, descriptors[0].capacity))
    try:
        rel = folder.resolve().relative_to(Path(repo.path).resolve())
    except ValueError as exc:
        raise InvalidInput(f"{point.id} is not inside repository {repo.name} ({repo.path})") from exc
    nvram = hardware.nvram if hardware.nvram and (folder / hardware.nvram).is_file() else None
    return vmx_files[0].name, hardware, disks, nvram, rel.as_posix()


def _datastore(p: place.HostPlacement, wanted: str | None, export: str) -> place.DatastoreMount:
    if wanted:
        ds = p.datastore(wanted)
        if ds.remote == export:
            raise InvalidInput(f"{ds.name} is the backup's own export; give a writable production datastore")
        if not ds.writable:
            raise InvalidInput(f"Datastore {ds.name} is not writable on {p.host_name} "
                               f"(mounted {ds.access_mode or 'with an unknown mode'}, "
                               f"{'accessible' if ds.accessible else 'inaccessible'})")
        return ds
    writable = [d for d in p.datastores if d.writable and d.remote != export]
    if not writable:
        raise NotFound(f"Host {p.host_name} has no writable datastore for the VM's files and deltas")
    return max(writable, key=lambda d: d.free_space)


def plan_start(session: VsphereSession, point: RestorePoint, repo: Repository, request: StartRequest) -> StartPlan:
    """Check everything, change nothing (blocking: catalog files and vCenter reads)."""
    if not repo.nfs:
        raise NotFound(f"Repository {repo.name} has no NFS export recorded, so ESXi cannot mount it; add it again "
                       "with 'vmrestore repo add NAME PATH --nfs HOST:/EXPORT'")
    vmx_file, hardware, disks, nvram, rel = read_point(point, repo)
    name = request.name or default_name(point.vm)
    if _BAD_NAME.search(name) or not name.strip() or len(name) > 80:
        raise InvalidInput(f"A VM name may not contain / \\ or % and must be 1-80 characters: {name!r}")
    host = place.resolve_host(session, request.host)
    p = place.host_placement(session, host)
    if not p.connected:
        raise VmrestoreError(f"Host {p.host_name} is not connected to vCenter")
    ds = _datastore(p, request.datastore, repo.nfs)
    need = needed_bytes(hardware, [d.capacity for d in disks])
    if ds.free_space < need:
        raise InsufficientSpace(
            f"{ds.name} has {ds.free_space // MiB} MiB free; the instant VM needs {need // MiB} MiB (memory for swap, "
            f"logs, and {int(DELTA_RESERVE * 100)} % of its {sum(d.capacity for d in disks) // MiB} MiB of disks "
            "for the writes it makes before it is migrated)")
    if place.vm_named(session, name) is not None:
        raise AlreadyExists(f"A VM called {name!r} already exists; give another name with --name")
    if request.network == ISOLATED:
        network = None
        wanted = [n.network for n in hardware.nics if n.network in p.networks]
        nic_backing = wanted[0] if wanted else (p.networks[0] if p.networks else "")
        if hardware.nics and not nic_backing:
            raise NotFound(f"Host {p.host_name} has no port group to attach the (disconnected) NICs to")
    else:
        if request.network not in p.networks:
            raise NotFound(f"No port group {request.network!r} on {p.host_name} (there: {', '.join(p.networks)})")
        network = nic_backing = request.network
    hw_version = hardware.hw_version
    if hw_version and p.hw_versions and hw_version > max(p.hw_versions):
        raise VmrestoreError(f"The backup is virtual hardware vmx-{hw_version}; host {p.host_name} runs at most "
                             f"vmx-{max(p.hw_versions)}. Pick a newer host.")
    reuse = p.mounted_export(repo.nfs)
    if reuse is not None and reuse.access_mode != "readOnly":
        raise InvalidInput(f"{repo.nfs} is already mounted on {p.host_name} as {reuse.name}, but not read-only "
                           f"({reuse.access_mode or 'mode unknown'}); unmount it or mount it read-only first")
    pool = place.find_pool(session, p, request.pool) if request.pool else p.pool
    folder = place.find_folder(session, p, request.folder) if request.folder else p.vm_folder
    return StartPlan(request=request, point=point, export=repo.nfs, folder_in_export=rel, vmx_file=vmx_file,
                     hardware=hardware, disks=tuple(disks), nvram=nvram, placement=p, datastore=ds, reuse=reuse,
                     pool=pool, folder=folder, name=name, network=network, nic_backing=nic_backing,
                     hw_version=hw_version, needed_bytes=need)
