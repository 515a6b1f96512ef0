"""Undo one journaled temporary object; every function is idempotent (already gone = done).

Called by the sweep after a crash, possibly in a new process, with only the journal's ``undo``
dict: plain moids, names and datastore paths, never secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from vmrestore.errors import NotFound
from vmrestore.vsphere import disks_hotadd, hotadd_checks, instant_ops, instant_vm, nas
from vmrestore.vsphere.placement import vm_named
from vmrestore.vsphere.properties import retrieve_objects
from vmrestore.vsphere.refs import ref
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.tasks import wait_for_tasks

log = logging.getLogger(__name__)


def detach_disk(session: VsphereSession, undo: Mapping[str, Any]) -> None:
    """``undo``: ``vm`` (moid), ``file`` (the delta we created)."""
    disks_hotadd.detach_disk(session, str(undo["vm"]), str(undo["file"]), destroy_delta=True)


def unmount_nas(session: VsphereSession, undo: Mapping[str, Any]) -> None:
    """``undo``: ``host`` (moid), ``name`` (the datastore name we gave the mount).

    ``only_if_unused``: leave it mounted while any VM still has a file on it (another operator's
    mount reused it); that counts as done: the last user's stop unmounts it.
    """
    if undo.get("only_if_unused") and hotadd_checks.datastore_users(session, str(undo["name"])):
        log.info("datastore %s is still in use; left mounted", undo.get("name"))
        return
    try:
        nas.unmount_nas(session, str(undo["host"]), str(undo["name"]))
    except NotFound:
        log.info("host %s is gone; nothing to unmount", undo.get("host"))


def unregister_vm(session: VsphereSession, undo: Mapping[str, Any]) -> None:
    """``undo``: ``vm`` (moid). Powers off, then *unregisters* (never Destroy: that deletes files)."""
    vm = ref(session, "VirtualMachine", str(undo["vm"]))
    try:
        props = retrieve_objects(session, [vm], ["runtime.powerState"])
    except NotFound:
        return
    if not props:
        return
    if props[0].props.get("runtime.powerState") == "poweredOn":
        wait_for_tasks(session, [session.call(vm.PowerOffVM_Task, idempotent=False)])
    session.call(vm.UnregisterVM, idempotent=False)


def _walk(trees: Any) -> Iterator[Any]:
    for tree in trees or ():
        yield tree
        yield from _walk(tree.childSnapshotList)


def remove_snapshot(session: VsphereSession, undo: Mapping[str, Any]) -> None:
    """``undo``: ``vm`` (moid), ``snapshot`` (moid, once known) or ``name`` (set before creation)."""
    vm = ref(session, "VirtualMachine", str(undo["vm"]))
    try:
        props = retrieve_objects(session, [vm], ["snapshot"])
    except NotFound:
        return
    info = props[0].props.get("snapshot") if props else None
    if info is None:
        return
    wanted_moid, wanted_name = undo.get("snapshot"), undo.get("name")
    for tree in _walk(info.rootSnapshotList):
        matches = tree.snapshot._moId == wanted_moid if wanted_moid else tree.name == wanted_name
        if matches:
            task = session.call(tree.snapshot.RemoveSnapshot_Task, False, True, idempotent=False)
            wait_for_tasks(session, [task])
            return


def discard_created_vm(session: VsphereSession, undo: Mapping[str, Any]) -> None:
    """``undo``: ``name``, ``vmx`` (its path), ``backup_datastore``, ``vm`` (moid once known).

    The crash may have fallen after vCenter created the VM but before we heard its moid: then the VM is
    found by name, and only if its .vmx is exactly where we asked for it (never someone else's VM).
    """
    moid = undo.get("vm")
    if moid and not instant_vm.vm_exists(session, str(moid)):
        moid = None
    if not moid:
        candidate = vm_named(session, str(undo["name"]))
        if candidate is None or instant_ops.vm_path(session, candidate) != undo["vmx"]:
            return
        moid = candidate
    instant_ops.discard_vm(session, str(moid), str(undo["backup_datastore"]))


def delete_copied_file(session: VsphereSession, undo: Mapping[str, Any]) -> None:
    """``undo``: ``datacenter`` (moid), ``path`` (the copy we made)."""
    instant_vm.delete_file(session, str(undo["datacenter"]), str(undo["path"]))
