"""Attach a backed-up VMDK to a running VM as a *linked delta*, and detach it again.

The backup file is only ever the *parent* of a new delta disk that vSphere creates on a writable
datastore (``fileOperation=create`` with ``backing.parent``): every write the guest makes lands in the
delta, the backup is never opened for writing. Detaching removes the device and destroys only the
delta file we created. These are the journaled steps of file restore (and of instant recovery).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from vmrestore.errors import InvalidInput, NotFound
from vmrestore.vsphere.properties import retrieve_objects
from vmrestore.vsphere.refs import ref
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.tasks import wait_for_tasks

log = logging.getLogger(__name__)

_Dev: Any = vim.vm.device
_ConfigSpec: Any = vim.vm.ConfigSpec

# SCSI unit 7 is the controller itself.
_SCSI_UNITS = [u for u in range(16) if u != 7]


@dataclass(frozen=True, slots=True)
class AttachedDisk:
    vm: str
    device_key: int
    file: str  # the delta's descriptor, "[datastore] folder/name.vmdk"
    parent: str
    controller_key: int
    unit: int


def _vm_devices(session: VsphereSession, vm_moid: str) -> tuple[Any, list[Any], str]:
    vm = ref(session, "VirtualMachine", vm_moid)
    props = retrieve_objects(session, [vm], ["config.hardware.device", "config.files.vmPathName"])
    if not props:
        raise NotFound(f"VM {vm_moid} does not exist (any more)")
    devices = list(props[0].props.get("config.hardware.device") or [])
    vmx = str(props[0].props.get("config.files.vmPathName") or "")
    return vm, devices, vmx


def _free_scsi_slot(devices: list[Any]) -> tuple[int, int]:
    controllers = [d for d in devices if isinstance(d, _Dev.VirtualSCSIController)]
    used = {(d.controllerKey, d.unitNumber) for d in devices if getattr(d, "controllerKey", None) is not None}
    for controller in sorted(controllers, key=lambda c: c.key):
        for unit in _SCSI_UNITS:
            if (controller.key, unit) not in used:
                return controller.key, unit
    raise InvalidInput("The target VM has no free SCSI slot for another disk")


def _folder_of(vmx_path: str) -> tuple[str, str]:
    """``"[ds1] vm/vm.vmx"`` → (``"ds1"``, ``"vm"``)."""
    if not vmx_path.startswith("[") or "]" not in vmx_path:
        raise InvalidInput(f"Unexpected VM path {vmx_path!r}")
    datastore, rest = vmx_path[1:].split("]", 1)
    folder = rest.strip().rsplit("/", 1)[0] if "/" in rest else ""
    return datastore, folder


def delta_path(session: VsphereSession, vm_moid: str, token: str, datastore: str | None = None) -> str:
    """Where the delta of an attach will live: next to the target VM's .vmx (or on ``datastore``)."""
    _, _, vmx = _vm_devices(session, vm_moid)
    vm_ds, folder = _folder_of(vmx)
    prefix = f"{folder}/" if folder else ""
    return f"[{datastore or vm_ds}] {prefix}vmrestore-{token}.vmdk"


def attach_linked_delta(
    session: VsphereSession, vm_moid: str, parent: str, delta_file: str, capacity_bytes: int
) -> AttachedDisk:
    """Add a new delta disk ``delta_file`` whose parent is the backup VMDK ``parent`` (read only)."""
    vm, devices, _ = _vm_devices(session, vm_moid)
    controller_key, unit = _free_scsi_slot(devices)
    parent_backing = _Dev.VirtualDisk.FlatVer2BackingInfo(fileName=parent, diskMode="persistent")
    backing = _Dev.VirtualDisk.FlatVer2BackingInfo(fileName=delta_file, diskMode="persistent",
                                                    parent=parent_backing, thinProvisioned=True)
    disk = _Dev.VirtualDisk(key=-100, controllerKey=controller_key, unitNumber=unit, backing=backing,
                            capacityInKB=max(1, capacity_bytes // 1024))
    change = _Dev.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk)
    task = session.call(vm.ReconfigVM_Task, _ConfigSpec(deviceChange=[change]), idempotent=False)
    wait_for_tasks(session, [task])
    _, devices, _ = _vm_devices(session, vm_moid)
    for device in devices:
        if isinstance(device, _Dev.VirtualDisk) and getattr(device.backing, "fileName", None) == delta_file:
            return AttachedDisk(vm=vm_moid, device_key=device.key, file=delta_file, parent=parent,
                                controller_key=controller_key, unit=unit)
    raise NotFound(f"vCenter reported success, but {delta_file} is not attached to {vm_moid}")


def detach_disk(
    session: VsphereSession, vm_moid: str, delta_file: str, *, destroy_delta: bool = True
) -> bool:
    """Remove the disk backed by ``delta_file``; return False when it was not attached (idempotent).

    ``destroy_delta`` deletes the delta files we created (never the parent: it is not this device's
    file). A missing VM counts as detached.
    """
    try:
        vm, devices, _ = _vm_devices(session, vm_moid)
    except NotFound:
        return False
    for device in devices:
        if isinstance(device, _Dev.VirtualDisk) and getattr(device.backing, "fileName", None) == delta_file:
            change = _Dev.VirtualDeviceSpec(operation="remove", device=device,
                                            fileOperation="destroy" if destroy_delta else None)
            task = session.call(vm.ReconfigVM_Task, _ConfigSpec(deviceChange=[change]), idempotent=False)
            wait_for_tasks(session, [task])
            log.info("detached %s from %s", delta_file, vm_moid)
            return True
    return False
