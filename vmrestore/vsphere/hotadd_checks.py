"""Pre-flight reads for hot-adding a backed-up disk to a running VM (one PropertyCollector call each).

Each check is a read, made before anything is created, so a refusal leaves nothing behind:

- the target VM: power state, VMware Tools, ``guestOperationsReady``, guest family, its host;
- a free unit on an *existing* SCSI controller (adding a controller to a running VM stuns it: we
  refuse instead of adding one);
- the datastore that will hold the delta: accessible, mounted read-write on the VM's host, with room;
- the point not already attached to that VM (a disk of ours whose parent is the same backup file);
- an NFS datastore already mounted on the host from the same remote host and path, to reuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from vmrestore.errors import NotFound
from vmrestore.vsphere.properties import retrieve, retrieve_objects
from vmrestore.vsphere.refs import ref
from vmrestore.vsphere.session import VsphereSession

_SCSI_UNITS = [u for u in range(16) if u != 7]  # unit 7 is the controller itself
#: File names of the deltas vmrestore creates start with this (vsphere/disks_hotadd.delta_path).
DELTA_PREFIX = "vmrestore-"

_VM_PATHS = [
    "name", "runtime.powerState", "runtime.host", "guest.toolsRunningStatus", "guest.guestOperationsReady",
    "guest.guestFamily", "config.guestId", "config.hardware.device", "config.files.vmPathName",
]


@dataclass(frozen=True, slots=True)
class ScsiSlot:
    controller_key: int
    bus: int  # the controller's busNumber (scsiN)
    unit: int


@dataclass(frozen=True, slots=True)
class AttachedDelta:
    """A disk vmrestore attached earlier: its delta file and the backup file it hangs from."""

    file: str
    parent: str
    controller_key: int
    unit: int


@dataclass(frozen=True, slots=True)
class TargetVm:
    moid: str
    name: str
    power_state: str
    host: str | None  # moid
    tools_running: bool
    guest_ops_ready: bool
    guest_family: str  # "windowsGuest", "linuxGuest", "" when Tools never reported
    vmx_path: str  # "[ds] folder/vm.vmx"
    free_slot: ScsiSlot | None
    scsi_controllers: int
    our_deltas: tuple[AttachedDelta, ...]

    @property
    def vmx_datastore(self) -> str:
        return self.vmx_path[1:].split("]", 1)[0] if self.vmx_path.startswith("[") else ""

    @property
    def is_linux(self) -> bool:
        return self.guest_family == "linuxGuest"


@dataclass(frozen=True, slots=True)
class DatastoreRoom:
    name: str
    moid: str
    accessible: bool
    writable: bool  # mounted readWrite on the host we asked about
    free_space: int
    type: str


def _free_slot(devices: list[Any]) -> tuple[ScsiSlot | None, int]:
    controllers = sorted((d for d in devices if isinstance(d, vim.vm.device.VirtualSCSIController)),
                         key=lambda c: c.busNumber)
    used = {(d.controllerKey, d.unitNumber) for d in devices if getattr(d, "controllerKey", None) is not None}
    for controller in controllers:
        for unit in _SCSI_UNITS:
            if (controller.key, unit) not in used:
                return ScsiSlot(controller.key, int(controller.busNumber), unit), len(controllers)
    return None, len(controllers)


def _our_deltas(devices: list[Any]) -> tuple[AttachedDelta, ...]:
    found = []
    for d in devices:
        if not isinstance(d, vim.vm.device.VirtualDisk):
            continue
        backing = d.backing
        name = str(getattr(backing, "fileName", "") or "")
        parent = getattr(backing, "parent", None)
        if parent is not None and name.rsplit("/", 1)[-1].split("] ")[-1].startswith(DELTA_PREFIX):
            found.append(AttachedDelta(name, str(getattr(parent, "fileName", "")), int(d.controllerKey or 0),
                                       int(d.unitNumber or 0)))
    return tuple(found)


def read_target(session: VsphereSession, vm_moid: str) -> TargetVm:
    """Everything the hot-add pre-flight needs to know about the target VM, in one read."""
    props = retrieve_objects(session, [ref(session, "VirtualMachine", vm_moid)], _VM_PATHS)
    if not props:
        raise NotFound(f"VM {vm_moid} does not exist (any more)")
    p = props[0].props
    devices = list(p.get("config.hardware.device") or [])
    slot, controllers = _free_slot(devices)
    host = p.get("runtime.host")
    family = str(p.get("guest.guestFamily") or "")
    if not family and str(p.get("config.guestId") or "").startswith("win"):
        family = "windowsGuest"
    return TargetVm(
        moid=vm_moid,
        name=str(p.get("name", vm_moid)),
        power_state=str(p.get("runtime.powerState", "unknown")),
        host=getattr(host, "_moId", None),
        tools_running=p.get("guest.toolsRunningStatus") == "guestToolsRunning",
        guest_ops_ready=bool(p.get("guest.guestOperationsReady")),
        guest_family=family,
        vmx_path=str(p.get("config.files.vmPathName") or ""),
        free_slot=slot,
        scsi_controllers=controllers,
        our_deltas=_our_deltas(devices),
    )


def _host_datastores(session: VsphereSession, host_moid: str) -> list[Any]:
    props = retrieve_objects(session, [ref(session, "HostSystem", host_moid)], ["datastore"])
    if not props:
        raise NotFound(f"Host {host_moid} does not exist (any more)")
    return list(props[0].props.get("datastore") or [])


def datastore_room(session: VsphereSession, host_moid: str, name: str) -> DatastoreRoom:
    """Space and access of the datastore ``name`` as the host ``host_moid`` sees it."""
    stores = _host_datastores(session, host_moid)
    paths = ["name", "summary.accessible", "summary.freeSpace", "summary.type", "host"]
    for item in retrieve_objects(session, stores, paths) if stores else []:
        if item.props.get("name") != name:
            continue
        mode = ""
        for mount in item.props.get("host") or ():
            if getattr(mount.key, "_moId", None) == host_moid:
                mode = str(getattr(mount.mountInfo, "accessMode", "") or "")
        return DatastoreRoom(name=name, moid=item.moid, accessible=bool(item.props.get("summary.accessible")),
                             writable=mode != "readOnly", free_space=int(item.props.get("summary.freeSpace") or 0),
                             type=str(item.props.get("summary.type") or ""))
    raise NotFound(f"Datastore {name} is not mounted on the VM's host")


def find_nas(session: VsphereSession, host_moid: str, remote_host: str, remote_path: str) -> str | None:
    """The name of an NFS datastore on the host mounted from exactly ``remote_host:remote_path``."""
    stores = _host_datastores(session, host_moid)
    if not stores:
        return None
    wanted = remote_path.rstrip("/") or "/"
    for item in retrieve_objects(session, stores, ["name", "info"]):
        nas = getattr(item.props.get("info"), "nas", None)
        if nas is None:
            continue
        if str(nas.remoteHost) == remote_host and (str(nas.remotePath).rstrip("/") or "/") == wanted:
            return str(item.props.get("name"))
    return None


def datastore_users(session: VsphereSession, name: str) -> list[str]:
    """Moids of the VMs that have any file on the datastore ``name`` (a disk, or a parent of one).

    Only the VMs of the hosts that mount the datastore can use it, so only their devices are read:
    at 10,000 VMs this is one host's VMs, not a 20 MB read of every VM's hardware.
    """
    stores = [o for o in retrieve(session, "Datastore", ["name", "host", "vm"]) if o.props.get("name") == name]
    if not stores:
        return []
    users = {v._moId for v in stores[0].props.get("vm") or ()}
    hosts = [mount.key for mount in stores[0].props.get("host") or ()]
    vms = [vm for h in retrieve_objects(session, hosts, ["vm"]) for vm in h.props.get("vm") or ()] if hosts else []
    for item in retrieve_objects(session, vms, ["config.hardware.device"]) if vms else []:
        for d in item.props.get("config.hardware.device") or ():
            backing = getattr(d, "backing", None)
            chain = []
            while backing is not None:
                chain.append(str(getattr(backing, "fileName", "") or ""))
                backing = getattr(backing, "parent", None)
            if any(f.startswith(f"[{name}]") for f in chain):
                users.add(item.moid)
                break
    return sorted(users)
