"""The snapshot scan: every VM's snapshot tree and delta files, datastore space, and orphaned files.

One streamed ``RetrievePropertiesEx`` reads every VM (never a call per VM); two small collector calls
read datastores and hosts; one ``SearchDatastoreSubFolders_Task`` per datastore lists the delta and
snapshot files on disk, all waited for together through the task helper.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pyVmomi import vim

from vmrestore.errors import VmrestoreError
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.snapshots.fastretrieve import retrieve_vm_objects, retrieve_vms
from vmrestore.vsphere.snapshots.layout import build_vm, datastore_of, normalize_path, referenced_paths
from vmrestore.vsphere.snapshots.raw import RawVm
from vmrestore.vsphere.snapshots.types import (
    DatastoreState,
    HostState,
    OrphanFile,
    ScanResult,
    VmSnapshotState,
)
from vmrestore.vsphere.tasks import wait_for_tasks

log = logging.getLogger(__name__)

# Pass 1, every VM: small properties only. ``layout.disk`` names each disk's chain of descriptors, which
# is enough to see which VMs run on a delta; the full ``layoutEx`` (every file with its size) is read in
# pass 2 only for VMs with snapshots, a delta chain or a consolidation to do - a few percent of a large
# inventory, and most of the reply's bytes and parse time otherwise.
VM_PATHS = (
    "name",
    "snapshot",
    "layout.disk",
    "runtime.powerState",
    "runtime.host",
    "runtime.consolidationNeeded",
    "datastore",
    "config.files.vmPathName",
)
DATASTORE_PATHS = ("name", "summary.capacity", "summary.freeSpace", "summary.accessible", "summary.url", "browser")
HOST_PATHS = ("name", "runtime.inMaintenanceMode")
# What a snapshot leaves on a datastore: delta disks (VMFS/NFS/SE sparse, numbered descriptors) and
# the snapshot state (.vmsn) and memory (.vmem) files.
ORPHAN_PATTERNS = ("*-0000*.vmdk", "*-delta.vmdk", "*-sesparse.vmdk", "*.vmsn", "*.vmem")

Progress = Callable[[str], None]
_Browser: Any = vim.host.DatastoreBrowser


def scan(
    session: VsphereSession,
    *,
    datastore: str | None = None,
    orphans: bool = True,
    progress: Progress | None = None,
) -> ScanResult:
    """Read the whole snapshot picture (blocking: run it in an executor).

    ``datastore``: keep only VMs with files on that datastore and look for orphans only there; the
    "referenced" set still comes from every VM, so a file used by a VM elsewhere is never an orphan.
    """
    say = progress or (lambda _text: None)
    say("Reading VMs")
    raw_vms = retrieve_vms(session, VM_PATHS)
    detail = [vm.moref for vm in raw_vms if vm.needs_layout_ex()]
    if detail:
        say(f"Reading the file layout of {len(detail)} VMs with snapshots or deltas")
        layouts = {vm.moref: vm for vm in retrieve_vm_objects(session, detail, ["layoutEx"])}
        for vm in raw_vms:
            full = layouts.get(vm.moref)
            if full is not None and full.has_layout_ex:
                vm.files, vm.disks, vm.snapshot_layouts = full.files, full.disks, full.snapshot_layouts
                vm.has_layout_ex = True
    say(f"Read {len(raw_vms)} VMs; reading datastores")
    stores = _datastores(session)
    hosts = tuple(
        HostState(o.moid, str(o.props.get("name", o.moid)), bool(o.props.get("runtime.inMaintenanceMode", False)))
        for o in retrieve(session, "HostSystem", HOST_PATHS)
    )
    states = tuple(_vm_state(vm) for vm in raw_vms)
    selected = [s for s, _ in stores]
    if datastore is not None:
        selected = [s for s in selected if s.name == datastore]
        names = {datastore}
        ds_moref = {s.moref for s in selected}
        states = tuple(
            s for s in states
            if ds_moref.intersection(s.datastores) or names.intersection(d for d, _ in s.delta_by_datastore)
        )
    found: tuple[OrphanFile, ...] = ()
    warnings: list[str] = []
    if orphans:
        say("Searching datastores for orphaned delta files")
        browsers = [(s, b) for s, b in stores if s in selected and s.accessible and b is not None]
        found, warnings = _orphans(session, browsers, raw_vms)
    return ScanResult(
        scanned_at=datetime.now(UTC), vms=states, datastores=tuple(selected), hosts=hosts, orphans=found,
        orphans_scanned=orphans, warnings=tuple(warnings),
    )


def _vm_state(vm: RawVm) -> VmSnapshotState:
    if not vm.roots and not vm.snapshot_layouts and all(len(d.chain) <= 1 for d in vm.disks):
        return VmSnapshotState(
            moref=vm.moref, name=vm.name, power_state=vm.power_state, host=vm.host, datastores=vm.datastores,
            consolidation_needed=vm.consolidation_needed, snapshots=(),
        )
    return build_vm(vm)


def _datastores(session: VsphereSession) -> list[tuple[DatastoreState, Any]]:
    out = []
    for o in retrieve(session, "Datastore", DATASTORE_PATHS):
        p = o.props
        state = DatastoreState(
            moref=o.moid,
            name=str(p.get("name", o.moid)),
            capacity=int(p.get("summary.capacity", 0) or 0),
            free=int(p.get("summary.freeSpace", 0) or 0),
            accessible=bool(p.get("summary.accessible", True)),
            url=str(p.get("summary.url", "") or ""),
        )
        out.append((state, p.get("browser")))
    return sorted(out, key=lambda item: item[0].name.casefold())


def _orphans(
    session: VsphereSession, browsers: Iterable[tuple[DatastoreState, Any]], vms: Iterable[RawVm]
) -> tuple[tuple[OrphanFile, ...], list[str]]:
    referenced: set[str] = set()
    for vm in vms:
        referenced |= referenced_paths(vm)
    spec = _Browser.SearchSpec(
        matchPattern=list(ORPHAN_PATTERNS),
        details=_Browser.FileInfo.Details(fileSize=True, modification=True, fileType=True),
    )
    tasks: list[tuple[DatastoreState, Any]] = []
    warnings: list[str] = []
    for store, browser in browsers:
        try:
            task = session.call(browser.SearchDatastoreSubFolders_Task, f"[{store.name}]", spec)
        except VmrestoreError as exc:
            warnings.append(f"{store.name}: cannot search the datastore: {exc}")
            continue
        tasks.append((store, task))
    results: list[OrphanFile] = []
    for store, task in tasks:
        # One wait per datastore so that one unreadable datastore does not hide the others' files.
        try:
            (listing,) = wait_for_tasks(session, [task])
        except VmrestoreError as exc:
            warnings.append(f"{store.name}: the datastore search failed: {exc}")
            continue
        for folder in listing or ():
            folder_path = str(getattr(folder, "folderPath", "") or f"[{store.name}]")
            for info in getattr(folder, "file", None) or ():
                path = normalize_path(f"{folder_path}/{info.path}")
                if path in referenced:
                    continue
                modified = getattr(info, "modification", None)
                if isinstance(modified, datetime):
                    modified = modified.replace(tzinfo=UTC) if modified.tzinfo is None else modified.astimezone(UTC)
                else:
                    modified = None
                results.append(OrphanFile(
                    datastore=datastore_of(path) or store.name, path=path,
                    size=int(getattr(info, "fileSize", 0) or 0), modified=modified,
                ))
    results.sort(key=lambda o: o.path)
    return tuple(results), warnings
