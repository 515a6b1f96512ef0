"""The snapshot scan: every VM's snapshot tree and delta files, datastore space, and orphaned files.

Pass 1 streams four small properties of every VM in one ``RetrievePropertiesEx`` (never a call per
VM); pass 2 reads the full layout and details of the few VMs with snapshots, deltas, a consolidation
to do or a suspended state. Meanwhile a second thread searches the datastores for snapshot-like files
(``SearchDatastoreSubFolders_Task``, its result streamed too), so the server walks the datastores while
this process parses the VMs; the search starts first, after only the datastores' own properties, and the
reference lists of coverage rules 1 and 2 are read while it runs, after the VM passes.

Orphans and what the scan could not see: a file is offered as an orphan only on a datastore where the
scan provably read every VM, and never in the home folder of a VM whose layout came back unreadable
(``missingSet``); :mod:`coverage` has the rules. Files in ``.vmrestore-quarantine`` are never candidates.
The ``.vmx`` files of coverage rule 3 are looked for only in the folders of unreferenced files, once the
VMs are read (a handful of small searches, or the whole datastore again when there are many such
folders): listing every VM's ``.vmx`` in the big search cost 10,000 more entries per 10,000 VMs to
encode, send and parse, for folders that almost never matter.

Orphans and concurrency: a file is an orphan only when no VM's layout references it *and* it was last
written before the scan started by vCenter's clock (minus ``min_orphan_age`` for clock skew between
vCenter and the hosts and for snapshot tasks in flight). A snapshot taken while the scan runs writes
its files after that instant, so they can never show up as orphans even though the VM pass may have
read that VM before the snapshot existed; they are reported separately as recent unreferenced files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from pyVmomi import vim

from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.snapshots.coverage import (
    MARKER_PATTERNS,
    REASON_LAYOUT,
    REASON_VMX,
    DatastoreRefs,
    LayoutGaps,
    datastore_verdicts,
    folder_of,
    is_marker,
    layout_gaps,
    unused_vmx_folders,
)
from vmrestore.vsphere.snapshots.dsfiles import ORPHAN_PATTERNS, FoundFile, search_files, search_folders
from vmrestore.vsphere.snapshots.fastretrieve import retrieve_refs, retrieve_vm_objects, retrieve_vms
from vmrestore.vsphere.snapshots.layout import build_vm, datastore_of, referenced_paths
from vmrestore.vsphere.snapshots.quarantine import in_quarantine
from vmrestore.vsphere.snapshots.raw import RawVm
from vmrestore.vsphere.snapshots.types import (
    DatastoreState,
    HostState,
    OrphanFile,
    ScanResult,
    VmSnapshotState,
)

__all__ = ["DETAIL_PATHS", "ORPHAN_MIN_AGE", "ORPHAN_PATTERNS", "VM_PATHS", "scan", "server_time"]

log = logging.getLogger(__name__)

# Pass 1, every VM: only what decides whether a VM needs a closer look, plus ``layout.disk`` (each
# disk's chain of descriptors), which also protects every VM's disks from being called orphans.
# ``config.files.vmPathName`` (the home) protects the folder of a VM whose layout cannot be read and
# tells which ``.vmx`` files belong to VMs the account can see (coverage rules 3 and 4).
VM_PATHS = ("snapshot", "layout.disk", "runtime.powerState", "runtime.consolidationNeeded", "config.files.vmPathName")
# Pass 2, the VMs with snapshots/deltas/consolidation/suspended: the tree again (consistent with the
# layout read in the same call), the full ``layoutEx`` and what the report shows.
DETAIL_PATHS = (
    "name",
    "snapshot",
    "layoutEx",
    "runtime.powerState",
    "runtime.host",
    "runtime.consolidationNeeded",
    "datastore",
    "config.files.vmPathName",
)
DATASTORE_PATHS = ("name", "summary.capacity", "summary.freeSpace", "summary.accessible", "summary.url", "browser")
HOST_PATHS = ("name", "runtime.inMaintenanceMode")
# What vCenter says is registered where (coverage rules 1 and 2): reference lists, streamed.
DATASTORE_REF_PATHS = ("vm", "host")
HOST_REF_PATHS = ("vm",)
# A file written less than this long before the scan started is never called an orphan.
ORPHAN_MIN_AGE = timedelta(minutes=10)
# Unreferenced files in more folders than this on one datastore: search it whole for .vmx files,
# rather than folder by folder.
VMX_FOLDERS_MAX = 32

Progress = Callable[[str], None]
_ServiceInstance: Any = vim.ServiceInstance


def server_time(session: VsphereSession) -> datetime:
    """vCenter's clock (``ServiceInstance.CurrentTime``), as an aware UTC datetime."""
    stub = session.content.propertyCollector._stub
    value = session.call(lambda: _ServiceInstance("ServiceInstance", stub).CurrentTime())
    if not isinstance(value, datetime):
        return datetime.now(UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def scan(
    session: VsphereSession,
    *,
    datastore: str | None = None,
    orphans: bool = True,
    progress: Progress | None = None,
    min_orphan_age: timedelta = ORPHAN_MIN_AGE,
) -> ScanResult:
    """Read the whole snapshot picture (blocking: run it in an executor).

    ``datastore``: keep only VMs with files on that datastore and look for orphans only there; the
    "referenced" set still comes from every VM, so a file used by a VM elsewhere is never an orphan.
    """
    say = progress or (lambda _text: None)
    started = server_time(session)
    stores = _datastores(session)
    selected = [s for s, _ in stores if datastore is None or s.name == datastore]
    browsers = [(s.name, b) for s, b in stores if s in selected and s.accessible and b is not None]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vmrestore-dssearch") as pool:
        search: Future[tuple[list[FoundFile], list[str]]] | None = None
        if orphans and browsers:
            say("Searching datastores for orphaned delta files")
            search = pool.submit(search_files, session, browsers, ORPHAN_PATTERNS)
        say("Reading VMs")
        raw_vms = retrieve_vms(session, VM_PATHS)
        seen = {vm.moref for vm in raw_vms}  # every VM this account's view holds
        detail = [vm.moref for vm in raw_vms if vm.needs_layout_ex()]
        if detail:
            say(f"Reading the file layout of {len(detail)} VMs with snapshots or deltas")
            full = {vm.moref: vm for vm in retrieve_vm_objects(session, detail, DETAIL_PATHS)}
            for vm in raw_vms:
                more = full.get(vm.moref)
                if more is not None:
                    more.disk_files = vm.disk_files  # pass 1's chains stay protected whatever pass 2 says
                    # What either pass could not read stays unknown (missingSet is never dropped).
                    more.missing = tuple(dict.fromkeys(vm.missing + more.missing))
                    more.home = more.home or vm.home
            raw_vms = [full.get(vm.moref, vm) for vm in raw_vms]
        else:
            full = {}
        say(f"Read {len(raw_vms)} VMs; reading hosts")
        host_objs = retrieve(session, "HostSystem", HOST_PATHS)
        hosts = tuple(
            HostState(o.moid, str(o.props.get("name", o.moid)), bool(o.props.get("runtime.inMaintenanceMode", False)))
            for o in host_objs
        )
        # What vCenter lists per datastore and host, read after the VM passes (the search is already
        # running): a VM created meanwhile is listed but not seen, which only makes the verdict stricter.
        refs = _datastore_refs(session, [s for s, _ in stores]) if orphans else []
        host_vms = {moid: props.get("vm", frozenset())
                    for moid, props in retrieve_refs(session, "HostSystem", HOST_REF_PATHS).items()} if orphans else {}
        found, warnings = search.result() if search is not None else ([], [])
    # Only the VMs read in pass 2 can have anything to show; one gone between the passes is left out
    # (its pass-1 references still count).
    states = tuple(_vm_state(vm) for vm in full.values())
    if datastore is not None:
        ds_moref = {s.moref for s in selected}
        states = tuple(
            s for s in states
            if ds_moref.intersection(s.datastores) or datastore in (d for d, _ in s.delta_by_datastore)
        )
    orphan_files: tuple[OrphanFile, ...] = ()
    recent: tuple[OrphanFile, ...] = ()
    if orphans:
        verdicts = datastore_verdicts([r for s, r in refs if s in selected], host_vms, seen)
        gaps = layout_gaps(raw_vms, {s.moref: s.name for s in (s for s, _ in refs)})
        if gaps.vms:
            warnings.append("the file layout of " + ", ".join(gaps.vms) + " could not be read: nothing in "
                            "their folders is offered as an orphan")
        referenced = referenced_files(raw_vms)
        folders = {folder_of(f.path) for f in unreferenced(found, referenced, gaps)}
        vmx, unknown, failed = vmx_files(session, dict(browsers), folders)
        warnings.extend(f"{where}: {why}" for where, why in failed)
        orphan_files, recent = classify_files(found + vmx, raw_vms, cutoff=started - min_orphan_age,
                                              verdicts=verdicts, gaps=gaps, referenced=referenced,
                                              unchecked=unknown)
        if recent:
            warnings.append(f"{len(recent)} unreferenced snapshot file(s) written within {min_orphan_age} of the "
                            "scan are not offered as orphans (a snapshot or backup may be in progress)")
    return ScanResult(
        scanned_at=started, vms=states, datastores=tuple(selected), hosts=hosts, orphans=orphan_files,
        orphans_scanned=orphans, warnings=tuple(warnings), vm_count=len(raw_vms), recent_unreferenced=recent,
    )


def referenced_files(vms: list[RawVm]) -> set[str]:
    """Every file any of ``vms`` references (normalised paths)."""
    referenced: set[str] = set()
    for vm in vms:
        referenced |= referenced_paths(vm)
    return referenced


def unreferenced(found: list[FoundFile], referenced: set[str], gaps: LayoutGaps | None = None) -> list[FoundFile]:
    """The candidates among ``found``: no VM references them, not a ``.vmx``, not in the quarantine,
    not in the home folder of a VM that could not be read (rule 4)."""
    return [
        f for f in found
        if f.path not in referenced and not is_marker(f.path) and not in_quarantine(f.path)
        and (gaps is None or folder_of(f.path) not in gaps.folders)
    ]


def vmx_files(
    session: VsphereSession, browsers: Mapping[str, Any], folders: set[str]
) -> tuple[list[FoundFile], set[str], list[tuple[str, str]]]:
    """The ``.vmx`` files in ``folders`` and below (coverage rule 3), the folders that could not be
    searched (they count as holding a VM nobody can see) and why."""
    by_ds: dict[str, set[str]] = {}
    for folder in folders:
        by_ds.setdefault(datastore_of(folder), set()).add(folder)
    targets: list[tuple[str, Any, str]] = []
    unknown: set[str] = set()
    for ds, dirs in sorted(by_ds.items()):
        browser = browsers.get(ds)
        if browser is None:
            unknown |= dirs
        elif len(dirs) > VMX_FOLDERS_MAX or any(d == f"[{ds}] " for d in dirs):
            targets.append((ds, browser, f"[{ds}]"))
        else:
            targets.extend((ds, browser, d) for d in sorted(dirs))
    found, failed = search_folders(session, targets, MARKER_PATTERNS) if targets else ([], [])
    for where, _why in failed:
        unknown |= by_ds.get(where, {where})
    return found, unknown, failed


def classify_files(
    found: list[FoundFile],
    vms: list[RawVm],
    *,
    cutoff: datetime,
    verdicts: Mapping[str, str] | None = None,
    gaps: LayoutGaps | None = None,
    referenced: set[str] | None = None,
    unchecked: set[str] | frozenset[str] = frozenset(),
) -> tuple[tuple[OrphanFile, ...], tuple[OrphanFile, ...]]:
    """``(orphans, recent)``: files no VM references, written before / after ``cutoff``.

    A file whose modification time is unknown counts as recent: what is not known to be old is never
    offered for deletion. ``.vmx`` files are evidence, never candidates; files in the home folder of a
    VM whose layout could not be read, and in the quarantine, are left out. An orphan is ``deletable``
    only where the scan provably saw every VM (``verdicts``: datastore → reason it did not, see
    :mod:`coverage`) and its folder holds no ``.vmx`` of a VM the scan did not read (``found`` must
    list the ``.vmx`` files of the candidates' folders; ``unchecked``: folders that could not be
    searched for them, which count as holding one). ``referenced``: :func:`referenced_files` of ``vms``
    if already computed.
    """
    if referenced is None:
        referenced = referenced_files(vms)
    markers = [f.path for f in found if is_marker(f.path)]
    foreign = unused_vmx_folders(markers, vms) | set(unchecked)
    orphans: list[OrphanFile] = []
    recent: list[OrphanFile] = []
    for f in unreferenced(found, referenced, gaps):
        folder = folder_of(f.path)
        ds = datastore_of(f.path)
        reason = (verdicts or {}).get(ds, "")
        if not reason and gaps is not None and (gaps.everywhere or ds in gaps.datastores):
            reason = REASON_LAYOUT
        if not reason and folder in foreign:
            reason = REASON_VMX
        item = OrphanFile(datastore=ds, path=f.path, size=f.size, modified=f.modified,
                          deletable=not reason, reason=reason)
        (orphans if f.modified is not None and f.modified < cutoff else recent).append(item)
    orphans.sort(key=lambda o: o.path)
    recent.sort(key=lambda o: o.path)
    return tuple(orphans), tuple(recent)


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


def _datastore_refs(
    session: VsphereSession, stores: list[DatastoreState]
) -> list[tuple[DatastoreState, DatastoreRefs]]:
    """Each datastore with its ``vm`` and ``host`` lists (an empty list is left out of the reply); one
    gone from the reply since its properties were read has unknown lists."""
    listed = retrieve_refs(session, "Datastore", DATASTORE_REF_PATHS)
    out = []
    for s in stores:
        lists = listed.get(s.moref)
        vms = lists.get("vm", frozenset()) if lists is not None else None
        hosts = lists.get("host", frozenset()) if lists is not None else None
        out.append((s, DatastoreRefs(s.name, s.moref, vms, hosts)))
    return out
