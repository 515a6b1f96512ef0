"""Building snapshot scenarios on the simulator with real pyVmomi calls (test set-up only)."""

from __future__ import annotations

import os
from typing import Any

from pyVmomi import vim

from tests.bench.vcsim_fixtures import Vcsim
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.session import ConnectSpec, VsphereSession
from vmrestore.vsphere.tasks import wait_for_tasks
from vmrestore.vsphere.trust import KnownHosts


def open_session(sim: Vcsim, tmp: str, user: str | None = None) -> VsphereSession:
    spec = ConnectSpec(url=sim.url, username=user or sim.username, password=sim.password, thumbprint=sim.thumbprint)
    return VsphereSession.open(spec, KnownHosts(os.path.join(tmp, "known_hosts.json")))


def vms(session: VsphereSession) -> dict[str, Any]:
    """VM name → pyVmomi managed object (read through the PropertyCollector)."""
    return {str(o.props["name"]): o.ref for o in retrieve(session, "VirtualMachine", ["name"])}


def snapshot(session: VsphereSession, vm: Any, name: str, description: str = "", *, memory: bool = False,
             quiesce: bool = False) -> str:
    task = vm.CreateSnapshot_Task(name, description, memory, quiesce)
    (ref,) = wait_for_tasks(session, [task])
    return str(ref._moId)


def first_disk(session: VsphereSession, vm: Any) -> Any:
    (props,) = [o for o in retrieve(session, "VirtualMachine", ["config.hardware.device"]) if o.moid == vm._moId]
    return next(d for d in props.props["config.hardware.device"] if isinstance(d, vim.vm.device.VirtualDisk))


def ds_file(sim: Vcsim, datastore_path: str) -> str:
    """``[LocalDS_0] vm/x.vmdk`` → the real file on the simulator's machine."""
    ds, rel = datastore_path[1:].split("] ", 1)
    return os.path.join(sim.datastore_dirs[ds], rel)


def grow_delta(session: VsphereSession, sim: Vcsim, vm: Any, size: int, number: int = 1) -> str:
    """Put the VM's first disk on a real delta ``<disk>-00000N.vmdk`` (with ``size`` bytes) whose parent
    is the current backing, as a snapshot would; returns the delta's datastore path."""
    disk = first_disk(session, vm)
    parent = disk.backing
    base = parent.fileName
    stem = base[: -len(".vmdk")]
    if "-0000" in stem:
        stem = stem[: stem.rindex("-0000")]
    delta = f"{stem}-{number:06d}.vmdk"
    with open(ds_file(sim, delta), "w") as f:
        f.write(f'# Disk DescriptorFile\nparentFileNameHint="{os.path.basename(base)}"\n')
    with open(ds_file(sim, delta[: -len(".vmdk")] + "-flat.vmdk"), "wb") as f:
        f.write(os.urandom(size))
    disk.backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(fileName=delta, diskMode="persistent", parent=parent)
    spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk)])
    wait_for_tasks(session, [vm.ReconfigVM_Task(spec)])
    return delta


def write_file(sim: Vcsim, datastore_path: str, size: int, *, age_days: float = 30.0) -> str:
    """Write ``size`` bytes at ``[ds] folder/name`` on the simulator's datastore, last modified
    ``age_days`` ago (an orphan is only ever a file older than the scan's guard); returns the local path."""
    import time

    local = ds_file(sim, datastore_path)
    os.makedirs(os.path.dirname(local), exist_ok=True)
    with open(local, "wb") as f:
        f.write(os.urandom(size))
    stamp = time.time() - age_days * 86400
    os.utime(local, (stamp, stamp))
    return local


def attach_as_delta(session: VsphereSession, vm: Any, delta: str) -> None:
    """Make the VM's first disk run on the existing file ``delta`` (its parent: the current backing),
    without writing to it: the file becomes referenced by the VM's layout."""
    disk = first_disk(session, vm)
    disk.backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(fileName=delta, diskMode="persistent",
                                                                  parent=disk.backing)
    spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk)])
    wait_for_tasks(session, [vm.ReconfigVM_Task(spec)])


def home_folder(session: VsphereSession, vm: Any) -> str:
    """``[ds] folder`` of the VM's .vmx."""
    (props,) = [o for o in retrieve(session, "VirtualMachine", ["config.files.vmPathName"]) if o.moid == vm._moId]
    return str(props.props["config.files.vmPathName"]).rsplit("/", 1)[0]
