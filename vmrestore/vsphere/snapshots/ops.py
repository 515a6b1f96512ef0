"""Changing things: remove one snapshot, delete one datastore file; and the pre-flight reads.

Every call blocks (run it in an executor) and raises vmrestore errors (``PermissionDenied`` for
vCenter's ``NoPermission``, ``NotFound`` for a snapshot that is already gone, ``TaskFailed``...).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from pyVmomi import vim

from vmrestore.vsphere.properties import retrieve, retrieve_objects
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.snapshots.types import RunningTask
from vmrestore.vsphere.tasks import wait_for_tasks

_Snapshot: Any = vim.vm.Snapshot
_VirtualMachine: Any = vim.VirtualMachine
_Task: Any = vim.Task


def _stub(session: VsphereSession) -> Any:
    return session.content.propertyCollector._stub


def remove_snapshot(
    session: VsphereSession,
    snapshot_moref: str,
    *,
    remove_children: bool = False,
    consolidate: bool = True,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int | None], None] | None = None,
) -> None:
    """Remove one snapshot (its delta is merged into the parent) and wait for the task."""
    snapshot = _Snapshot(snapshot_moref, _stub(session))
    task = session.call(snapshot.RemoveSnapshot_Task, remove_children, consolidate, idempotent=False)
    wait_for_tasks(
        session, [task], cancel=cancel,
        on_progress=(lambda _moid, pct, _state: on_progress(pct)) if on_progress else None,
    )


def delete_datastore_file(session: VsphereSession, path: str) -> None:
    """Delete one file, ``[ds] folder/name``, through the FileManager (in the datastore's datacenter)."""
    datastore = path[1 : path.index("]")] if path.startswith("[") and "]" in path else ""
    datacenter = datacenter_of(session, datastore)
    manager = session.content.fileManager
    task = session.call(manager.DeleteDatastoreFile_Task, path, datacenter, idempotent=False)
    wait_for_tasks(session, [task])


def datacenter_of(session: VsphereSession, datastore: str) -> Any:
    names = {o.moid: o.props.get("name") for o in retrieve(session, "Datastore", ["name"])}
    for dc in retrieve(session, "Datacenter", ["datastore"]):
        for ref in dc.props.get("datastore") or ():
            if names.get(ref._moId) == datastore:
                return dc.ref
    return None


def running_tasks(session: VsphereSession, vm_morefs: Sequence[str]) -> list[RunningTask]:
    """Tasks queued or running on these VMs (``recentTask``): a backup, another snapshot operation."""
    if not vm_morefs:
        return []
    stub = _stub(session)
    vms = [_VirtualMachine(m, stub) for m in dict.fromkeys(vm_morefs)]
    owners: dict[str, str] = {}
    tasks: list[Any] = []
    for o in retrieve_objects(session, vms, ["recentTask"]):
        for task in o.props.get("recentTask") or ():
            owners[task._moId] = o.moid
            tasks.append(task)
    if not tasks:
        return []
    out = []
    paths = ["info.state", "info.descriptionId", "info.name"]
    for o in retrieve_objects(session, tasks, paths):
        state = str(o.props.get("info.state", ""))
        if state in ("queued", "running"):
            description = str(o.props.get("info.descriptionId") or o.props.get("info.name") or "task")
            out.append(RunningTask(vm=owners.get(o.moid, ""), task=o.moid, description=description, state=state))
    return out
