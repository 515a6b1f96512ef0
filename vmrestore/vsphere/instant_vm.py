"""Create the instant-recovery VM: a new VM on a writable datastore that looks like the backed-up one
and whose disks are linked deltas over the backup's VMDKs on the read-only NFS datastore.

Why a new VM rather than registering the ``.vmx`` in the backup folder: a powered-on VM writes its log,
nvram, swap and lock files next to its ``.vmx``; registered there it would write into the backup (or
fail on a read-only mount). Created here, the backup folder is only ever read: each disk is a delta
(``fileOperation=create`` with ``backing.parent``) on the writable datastore, and vSphere opens the
parent read-only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from vmrestore.errors import InvalidInput, NotFound
from vmrestore.model import VmxHardware
from vmrestore.vsphere.properties import retrieve_objects
from vmrestore.vsphere.refs import ref
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.tasks import wait_for_tasks

log = logging.getLogger(__name__)

_Dev: Any = vim.vm.device
_ConfigSpec: Any = vim.vm.ConfigSpec
_Option: Any = vim.option.OptionValue
_FileInfo: Any = vim.vm.FileInfo
_SearchSpec: Any = vim.host.DatastoreBrowser.SearchSpec
_FileFlags: Any = vim.host.DatastoreBrowser.FileInfo.Details
_GuestIds: Any = vim.vm.GuestOsDescriptor.GuestOsIdentifier

_SCSI_MODELS: dict[str, Any] = {
    "lsilogic": _Dev.VirtualLsiLogicController,
    "lsisas1068": _Dev.VirtualLsiLogicSASController,
    "pvscsi": _Dev.ParaVirtualSCSIController,
    "buslogic": _Dev.VirtualBusLogicController,
}
_NIC_MODELS: dict[str, Any] = {
    "vmxnet3": _Dev.VirtualVmxnet3,
    "e1000": _Dev.VirtualE1000,
    "e1000e": _Dev.VirtualE1000e,
    "vmxnet2": _Dev.VirtualVmxnet2,
    "vmxnet": _Dev.VirtualVmxnet,
    "vlance": _Dev.VirtualPCNet32,
}
# The .vmx's guestOS values differ from the API's guestId; these do not follow the general rule below.
_GUEST_IDS = {
    "windows9srv-64": "windows9Server64Guest",
    "windows8srv-64": "windows8Server64Guest",
    "windows7srv-64": "windows7Server64Guest",
    "windows2019srv-64": "windows2019srv_64Guest",
    "windows2019srvnext-64": "windows2019srvNext_64Guest",
    "longhorn-64": "winLonghorn64Guest",
    "winnetstandard-64": "winNetStandard64Guest",
    "winnetenterprise-64": "winNetEnterprise64Guest",
    "other-64": "otherGuest64",
    "other": "otherGuest",
}
_IDE_BASE_KEY = 200  # every VM has IDE controllers 200 and 201 from creation


def guest_id(vmx_guest_os: str) -> str:
    """The API guestId for a .vmx ``guestOS`` value (``otherGuest64`` when it is unknown)."""
    value = vmx_guest_os.strip().lower()
    if value in _GUEST_IDS:
        return _GUEST_IDS[value]
    known = {str(v).lower(): str(v) for v in _GuestIds.values}
    base, is64 = (value[:-3], True) if value.endswith("-64") else (value, False)
    for candidate in ((f"{base}_64guest", f"{base}64guest") if is64 else (f"{base}guest",)):
        if candidate in known:
            return known[candidate]
    return "otherGuest64" if is64 else "otherGuest"


@dataclass(frozen=True, slots=True)
class InstantDisk:
    slot: str  # "scsi0:0" as in the backup's .vmx
    capacity: int  # bytes
    parent: str  # the backup VMDK, "[vmrestore-nfs] web01/web01-2026.../web01.vmdk"
    file: str  # the delta we create, "[ds1] web01-restored/web01-restored.vmdk"


@dataclass(frozen=True, slots=True)
class InstantVmSpec:
    name: str
    datastore: str  # writable datastore name
    hardware: VmxHardware
    disks: tuple[InstantDisk, ...]
    network: str | None  # port group to connect at power-on; None = isolated (NICs not connected)
    nic_backing: str  # the port group an isolated NIC is attached to (disconnected)
    hw_version: int | None
    annotation: str

    @property
    def vmx_path(self) -> str:
        return f"[{self.datastore}] {self.name}/{self.name}.vmx"

    @property
    def folder(self) -> str:
        return f"[{self.datastore}] {self.name}"


def delta_file(datastore: str, name: str, index: int) -> str:
    """Where disk ``index`` of the new VM lives (the names vSphere gives a new VM's disks)."""
    return f"[{datastore}] {name}/{name}.vmdk" if index == 0 else f"[{datastore}] {name}/{name}_{index}.vmdk"


def _controllers(hw: VmxHardware) -> tuple[list[Any], dict[tuple[str, int], int]]:
    changes, keys = [], {}
    for n, c in enumerate(hw.controllers):
        key = -(100 + n)
        if c.kind == "scsi":
            cls = _SCSI_MODELS.get(c.model)
            if cls is None:
                raise InvalidInput(f"The backup's SCSI controller model {c.model!r} is not supported")
            device = cls(key=key, busNumber=c.bus, sharedBus="noSharing")
        elif c.kind == "sata":
            device = _Dev.VirtualAHCIController(key=key, busNumber=c.bus)
        else:
            device = _Dev.VirtualNVMEController(key=key, busNumber=c.bus)
        changes.append(_Dev.VirtualDeviceSpec(operation="add", device=device))
        keys[(c.kind, c.bus)] = key
    for bus in (0, 1):
        keys[("ide", bus)] = _IDE_BASE_KEY + bus
    return changes, keys


def _disks(spec: InstantVmSpec, keys: dict[tuple[str, int], int]) -> list[Any]:
    changes = []
    for n, disk in enumerate(spec.disks):
        kind_bus, _, unit = disk.slot.partition(":")
        kind = kind_bus.rstrip("0123456789")
        bus = int(kind_bus[len(kind):] or 0)
        if (kind, bus) not in keys:
            raise InvalidInput(f"The backup's disk {disk.slot} sits on a controller the .vmx does not declare")
        parent = _Dev.VirtualDisk.FlatVer2BackingInfo(fileName=disk.parent, diskMode="persistent")
        backing = _Dev.VirtualDisk.FlatVer2BackingInfo(fileName=disk.file, diskMode="persistent", parent=parent,
                                                        thinProvisioned=True)
        device = _Dev.VirtualDisk(key=-(1000 + n), controllerKey=keys[(kind, bus)], unitNumber=int(unit),
                                  backing=backing, capacityInKB=max(1, disk.capacity // 1024))
        changes.append(_Dev.VirtualDeviceSpec(operation="add", fileOperation="create", device=device))
    return changes


def _nics(spec: InstantVmSpec) -> list[Any]:
    changes = []
    connect = spec.network is not None
    for n, nic in enumerate(spec.hardware.nics):
        cls = _NIC_MODELS.get(nic.model, _Dev.VirtualE1000)
        backing = _Dev.VirtualEthernetCard.NetworkBackingInfo(deviceName=spec.network or spec.nic_backing)
        device = cls(key=-(2000 + n), backing=backing, addressType="generated",
                     connectable=_Dev.VirtualDevice.ConnectInfo(startConnected=connect, connected=False,
                                                                 allowGuestControl=True))
        changes.append(_Dev.VirtualDeviceSpec(operation="add", device=device))
    return changes


def config_spec(spec: InstantVmSpec) -> Any:
    """The CreateVM spec: the backup's hardware, our deltas, NICs isolated or on the chosen port group."""
    hw = spec.hardware
    controllers, keys = _controllers(hw)
    extra = [
        # Answer "I copied it" without asking: a new identity (BIOS UUID, MACs) for the recovered copy.
        _Option(key="uuid.action", value="create"),
        _Option(key="vmrestore.instant", value="true"),
    ]
    return _ConfigSpec(
        name=spec.name, guestId=guest_id(hw.guest_os), memoryMB=hw.memory_mb, numCPUs=hw.cpus,
        numCoresPerSocket=hw.cores_per_socket, firmware=hw.firmware, annotation=spec.annotation,
        version=f"vmx-{spec.hw_version:02d}" if spec.hw_version else None,
        files=_FileInfo(vmPathName=spec.vmx_path), extraConfig=extra,
        deviceChange=controllers + _disks(spec, keys) + _nics(spec),
    )


def create_vm(session: VsphereSession, folder: str, pool: str, host: str, spec: InstantVmSpec) -> str:
    """CreateVM_Task in ``folder``/``pool`` on ``host``; returns the new VM's moid."""
    task = session.call(ref(session, "Folder", folder).CreateVM_Task, config_spec(spec),
                        ref(session, "ResourcePool", pool), ref(session, "HostSystem", host), idempotent=False)
    (result,) = wait_for_tasks(session, [task])
    log.info("created instant VM %s as %s", spec.name, result._moId)
    return str(result._moId)


def copy_file(session: VsphereSession, datacenter: str, source: str, target: str) -> None:
    """Copy one datastore file (the backup's .nvram) onto the writable datastore, overwriting."""
    manager = session.content.fileManager
    dc = ref(session, "Datacenter", datacenter)
    task = session.call(manager.CopyDatastoreFile_Task, sourceName=source, sourceDatacenter=dc,
                        destinationName=target, destinationDatacenter=dc, force=True, idempotent=False)
    wait_for_tasks(session, [task])


def delete_file(session: VsphereSession, datacenter: str, path: str) -> bool:
    """Delete one datastore file; False when it was not there (idempotent)."""
    manager = session.content.fileManager
    task = session.call(manager.DeleteDatastoreFile_Task, name=path,
                        datacenter=ref(session, "Datacenter", datacenter), idempotent=False)
    try:
        wait_for_tasks(session, [task])
    except NotFound:
        return False
    return True


def vm_exists(session: VsphereSession, vm_moid: str) -> bool:
    try:
        return bool(retrieve_objects(session, [ref(session, "VirtualMachine", vm_moid)], ["name"]))
    except NotFound:
        return False


def datastore_files(session: VsphereSession, datastore_moid: str, folder: str) -> dict[str, int]:
    """File names (with sizes) in one folder of a datastore (``folder`` like ``"web01/web01-2026-11-20_01-00-00"``).

    Used right after mounting the export: it proves the host sees the restore point where the catalog
    says it is, before anything is created from it.
    """
    items = retrieve_objects(session, [ref(session, "Datastore", datastore_moid)], ["browser", "name"])
    if not items:
        raise NotFound(f"Datastore {datastore_moid} does not exist (any more)")
    browser, name = items[0].props["browser"], items[0].props["name"]
    spec = _SearchSpec(matchPattern=["*"], details=_FileFlags(fileSize=True, fileType=True, modification=False))
    task = session.call(browser.SearchDatastore_Task, f"[{name}] {folder}", spec, idempotent=False)
    (result,) = wait_for_tasks(session, [task])
    return {str(f.path): int(getattr(f, "fileSize", 0) or 0) for f in getattr(result, "file", None) or ()}
