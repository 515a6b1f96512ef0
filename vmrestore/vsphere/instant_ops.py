"""Operations on a running instant-recovery VM: power on (answering the "moved or copied" question),
read its Tools state and IP, Storage vMotion it off the backup, reconnect its NICs, and discard it.

Discarding never deletes a file on the backup datastore: the disks are removed first with
``fileOperation=destroy`` (which deletes *our* deltas on the writable datastore; the parents on the
read-only NFS datastore are not the devices' files), and only then is the VM destroyed, after checking
that its folder is not on the backup datastore. On the simulator ``Destroy_Task`` deletes the VM folder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from vmrestore.errors import InvalidInput, NotFound, VmrestoreError
from vmrestore.vsphere.properties import retrieve_objects
from vmrestore.vsphere.refs import ref
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.tasks import wait_for_tasks

log = logging.getLogger(__name__)

_Dev: Any = vim.vm.device
_ConfigSpec: Any = vim.vm.ConfigSpec
_RelocateSpec: Any = vim.vm.RelocateSpec


@dataclass(frozen=True, slots=True)
class GuestState:
    power: str  # poweredOn, poweredOff, suspended
    tools: str  # toolsOk, toolsNotRunning, toolsNotInstalled...
    ip: str | None


@dataclass(frozen=True, slots=True)
class DiskBacking:
    label: str
    file: str  # the device's own file
    chain: tuple[str, ...]  # the file, then each parent up to the base


def datastore_of(path: str) -> str:
    """``"[ds1] a/b.vmdk"`` → ``"ds1"``."""
    if not path.startswith("[") or "]" not in path:
        raise InvalidInput(f"Not a datastore path: {path!r}")
    return path[1:path.index("]")]


def _props(session: VsphereSession, vm_moid: str, paths: list[str]) -> dict[str, Any]:
    items = retrieve_objects(session, [ref(session, "VirtualMachine", vm_moid)], paths)
    if not items:
        raise NotFound(f"VM {vm_moid} does not exist (any more)")
    return dict(items[0].props)


def answer_question(session: VsphereSession, vm_moid: str) -> str | None:
    """Answer a pending VM question, preferring "I copied it"; returns the question's id or None.

    The choice is picked by its *key* (``button.uuid.copiedTheVM``), never by the localized label.
    """
    question = _props(session, vm_moid, ["runtime.question"]).get("runtime.question")
    if question is None:
        return None
    choices = list(getattr(question.choice, "choiceInfo", None) or ())
    pick = next((c for c in choices if "copied" in str(c.key).lower()), None)
    if pick is None:
        default = getattr(question.choice, "defaultIndex", None)
        if default is None or not 0 <= default < len(choices):
            raise VmrestoreError(f"The VM asks a question vmrestore cannot answer: {question.text}")
        pick = choices[default]
    vm = ref(session, "VirtualMachine", vm_moid)
    session.call(vm.AnswerVM, question.id, str(pick.key), idempotent=False)
    log.info("answered VM question %s with %s", question.id, pick.key)
    return str(question.id)


def power_on(session: VsphereSession, vm_moid: str, cancel: threading.Event | None = None,
             question_wait: float = 30.0) -> list[str]:
    """Power on; a "moved or copied" question would block the task, so it is answered while waiting.

    Returns the ids of the questions answered.
    """
    vm = ref(session, "VirtualMachine", vm_moid)
    task = session.call(vm.PowerOnVM_Task, idempotent=False)
    answered: list[str] = []
    deadline = time.monotonic() + question_wait
    while True:
        state = retrieve_objects(session, [task], ["info.state"])[0].props.get("info.state")
        if state in ("success", "error"):
            break
        qid = answer_question(session, vm_moid)
        if qid:
            answered.append(qid)
        if time.monotonic() > deadline or (cancel is not None and cancel.is_set()):
            break
        time.sleep(0.5)
    wait_for_tasks(session, [task], cancel=cancel)
    qid = answer_question(session, vm_moid)  # one asked just as the task ended still blocks the guest
    if qid:
        answered.append(qid)
    return answered


def power_off(session: VsphereSession, vm_moid: str) -> bool:
    """Power off if on; False when it already was off."""
    if _props(session, vm_moid, ["runtime.powerState"]).get("runtime.powerState") == "poweredOff":
        return False
    wait_for_tasks(session, [session.call(ref(session, "VirtualMachine", vm_moid).PowerOffVM_Task,
                                          idempotent=False)])
    return True


def guest_state(session: VsphereSession, vm_moid: str) -> GuestState:
    p = _props(session, vm_moid, ["runtime.powerState", "guest.toolsRunningStatus", "guest.toolsStatus",
                                  "guest.ipAddress"])
    tools = str(p.get("guest.toolsStatus") or p.get("guest.toolsRunningStatus") or "unknown")
    return GuestState(power=str(p.get("runtime.powerState")), tools=tools, ip=p.get("guest.ipAddress") or None)


def wait_guest(session: VsphereSession, vm_moid: str, seconds: float, cancel: threading.Event | None = None
               ) -> GuestState:
    """Tools state and IP, waiting up to ``seconds`` for an IP (a guest takes a while to boot)."""
    deadline = time.monotonic() + seconds
    while True:
        state = guest_state(session, vm_moid)
        if state.ip or time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
            return state
        time.sleep(1.0)


def set_annotation(session: VsphereSession, vm_moid: str, text: str) -> None:
    vm = ref(session, "VirtualMachine", vm_moid)
    wait_for_tasks(session, [session.call(vm.ReconfigVM_Task, _ConfigSpec(annotation=text), idempotent=False)])


def annotation(session: VsphereSession, vm_moid: str) -> str:
    return str(_props(session, vm_moid, ["config.annotation"]).get("config.annotation") or "")


def disk_backings(session: VsphereSession, vm_moid: str) -> list[DiskBacking]:
    """Every virtual disk's file and its parent chain, as vCenter reports them now."""
    out = []
    for device in _props(session, vm_moid, ["config.hardware.device"]).get("config.hardware.device") or ():
        if not isinstance(device, _Dev.VirtualDisk):
            continue
        chain, backing = [], device.backing
        while backing is not None and getattr(backing, "fileName", None):
            chain.append(str(backing.fileName))
            backing = getattr(backing, "parent", None)
        label = str(getattr(device.deviceInfo, "label", "") or f"disk {device.key}")
        out.append(DiskBacking(label=label, file=chain[0] if chain else "", chain=tuple(chain)))
    return out


def vm_path(session: VsphereSession, vm_moid: str) -> str:
    return str(_props(session, vm_moid, ["config.files.vmPathName"]).get("config.files.vmPathName") or "")


ProgressCallback = Callable[[int | None], None]


def relocate(session: VsphereSession, vm_moid: str, datastore_moid: str, on_progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None) -> None:
    """Storage vMotion of the running VM to ``datastore_moid``, consolidating every disk off its parents."""
    vm = ref(session, "VirtualMachine", vm_moid)
    spec = _RelocateSpec(datastore=ref(session, "Datastore", datastore_moid),
                               diskMoveType="moveAllDiskBackingsAndConsolidate")
    task = session.call(vm.RelocateVM_Task, spec, "defaultPriority", idempotent=False)
    progress = None if on_progress is None else (lambda _moid, pct, _state: on_progress(pct))
    wait_for_tasks(session, [task], on_progress=progress, cancel=cancel)


def connect_nics(session: VsphereSession, vm_moid: str) -> int:
    """Connect every NIC now and at power-on; returns how many were changed (none already connected: a sweep
    finishing a migrate calls it again and then reconfigures nothing)."""
    changes = []
    for device in _props(session, vm_moid, ["config.hardware.device"]).get("config.hardware.device") or ():
        if isinstance(device, _Dev.VirtualEthernetCard):
            c = device.connectable
            if c is not None and c.connected and c.startConnected:
                continue
            device.connectable = _Dev.VirtualDevice.ConnectInfo(startConnected=True, connected=True,
                                                                allowGuestControl=True)
            changes.append(_Dev.VirtualDeviceSpec(operation="edit", device=device))
    if changes:
        vm = ref(session, "VirtualMachine", vm_moid)
        wait_for_tasks(session, [session.call(vm.ReconfigVM_Task, _ConfigSpec(deviceChange=changes),
                                              idempotent=False)])
    return len(changes)


def discard_vm(session: VsphereSession, vm_moid: str, backup_datastore: str) -> list[str]:
    """Power off, delete our deltas, destroy the VM; never touch a file on ``backup_datastore``.

    Returns the disk files deleted. Idempotent: a VM that is gone counts as discarded.
    """
    try:
        folder_ds = datastore_of(vm_path(session, vm_moid))
    except NotFound:
        return []
    if folder_ds == backup_datastore:
        raise VmrestoreError(f"VM {vm_moid}'s files are on the backup datastore {backup_datastore}; refusing to "
                             "destroy it (that would delete backup files). Unregister it by hand.")
    power_off(session, vm_moid)
    vm = ref(session, "VirtualMachine", vm_moid)
    removed, changes = [], []
    for device in _props(session, vm_moid, ["config.hardware.device"]).get("config.hardware.device") or ():
        if not isinstance(device, _Dev.VirtualDisk):
            continue
        own = str(getattr(device.backing, "fileName", "") or "")
        if own and datastore_of(own) != backup_datastore:
            changes.append(_Dev.VirtualDeviceSpec(operation="remove", device=device, fileOperation="destroy"))
            removed.append(own)
        else:  # a disk that *is* a backup file: detach it, never destroy it
            changes.append(_Dev.VirtualDeviceSpec(operation="remove", device=device))
    if changes:
        wait_for_tasks(session, [session.call(vm.ReconfigVM_Task, _ConfigSpec(deviceChange=changes),
                                              idempotent=False)])
    wait_for_tasks(session, [session.call(vm.Destroy_Task, idempotent=False)])
    log.info("discarded instant VM %s (deleted %s)", vm_moid, ", ".join(removed) or "no disks")
    return removed
