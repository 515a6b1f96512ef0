"""Which unreferenced files may be offered as orphans: what the scan can *prove* it saw.

"No VM references this file" means something only if every VM that could reference it was read. An
account with partial vCenter permissions does not get an error for what it cannot see: vCenter simply
leaves it out. The rules, each from what vSphere does, and what each one can and cannot prove:

1. A VM the account may not read is left out of its ContainerView (so out of the scan). Reference lists
   are filtered by the same permissions on some vCenter builds and not on others (``Datastore.vm``,
   ``HostSystem.vm``); where one still names a VM the scan did not read, the datastore (or every
   datastore its host mounts) is **not provably complete**: its unreferenced files are listed as
   possibly orphaned, never deletable.
2. A datastore whose ``host`` mounts name a host the account cannot read (no permission on it): that
   host's VMs are unknown, so the same. A host managed by *another* vCenter that mounts the same storage
   (a LUN or NFS export presented to two vCenters) appears in no list of this vCenter at all: nothing in
   this vCenter's API proves its absence. Rule 3 is what catches its VMs (and VMs hidden from every list).
3. Every VM keeps its configuration (``.vmx``) in its home folder, and by default its snapshot deltas in
   that folder too (the working directory). The datastore search lists ``.vmx`` files as well: browsing
   needs only ``Datastore.Browse`` on the datastore and is not filtered by VM permissions. A folder with
   a ``.vmx`` that no VM the scan read uses belongs to a VM this account cannot see, another vCenter's
   VM, or an unregistered VM: its files are never deletable. (Deltas placed outside the VM's home, by a
   changed ``workingDir``, of a VM hidden from every list of this vCenter, remain beyond proof: that is
   why deletion moves files to a quarantine first, from where they can be put back.)
4. A VM whose layout (or any property) came back in ``missingSet`` protects everything in its home
   folder; when its home is unknown too, every datastore it uses is not provably complete, and when
   even those are unknown, no datastore is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vmrestore.vsphere.snapshots.layout import normalize_path
from vmrestore.vsphere.snapshots.raw import RawVm

POSSIBLY = "possibly orphaned — "
REASON_VMS = POSSIBLY + "not every VM on this datastore is visible to you"
REASON_HOSTS = POSSIBLY + "this datastore is mounted on a host you cannot see (no permission, or another vCenter's)"
REASON_VMX = POSSIBLY + "its folder holds a VM configuration file (.vmx) that no VM visible to you uses"
REASON_LAYOUT = POSSIBLY + "the file layout of a VM on this datastore could not be read"

# Listed by the datastore search beside the orphan patterns, as evidence of VMs (rule 3), never offered.
MARKER_PATTERNS = ("*.vmx",)


@dataclass(frozen=True, slots=True)
class DatastoreRefs:
    """What vCenter says is on a datastore: its ``vm`` list and the hosts in its ``host`` mounts."""

    name: str
    moref: str
    vms: frozenset[str] | None  # None: the server could not tell (missingSet)
    hosts: frozenset[str] | None


def datastore_verdicts(
    datastores: Iterable[DatastoreRefs], host_vms: Mapping[str, frozenset[str] | None], seen_vms: set[str]
) -> dict[str, str]:
    """Datastore name → why its unreferenced files are not deletable (``""``: the scan saw every VM).

    ``host_vms``: every host the account can read → its ``vm`` list (None: unreadable); ``seen_vms``: the
    VMs the scan read. A list the server could not give counts as naming VMs we did not see.
    """
    out: dict[str, str] = {}
    for ds in datastores:
        if _unseen(ds.vms, seen_vms):
            out[ds.name] = REASON_VMS
        elif ds.hosts is None or ds.hosts - host_vms.keys():
            out[ds.name] = REASON_HOSTS
        elif any(_unseen(host_vms[h], seen_vms) for h in ds.hosts):
            out[ds.name] = REASON_VMS
        else:
            out[ds.name] = ""
    return out


def _unseen(listed: frozenset[str] | None, seen: set[str]) -> bool:
    return listed is None or bool(listed - seen)


def folder_of(path: str) -> str:
    """``[ds] a/b/c.vmdk`` → ``[ds] a/b``; a file at the datastore's root → ``[ds] ``."""
    if "/" in path:
        return path.rsplit("/", 1)[0]
    return path[: path.index("]") + 2] if "]" in path else ""


def is_marker(path: str) -> bool:
    return path.lower().endswith(".vmx")


@dataclass(frozen=True, slots=True)
class LayoutGaps:
    """Where VMs with unreadable properties may have files (rule 4)."""

    folders: frozenset[str]  # home folders: nothing in them is an orphan
    datastores: frozenset[str]  # datastore names where such a VM's home is unknown
    everywhere: bool  # a VM with an unknown layout, home and datastores
    vms: tuple[str, ...]  # "name (layoutEx, ...)" for the report


def layout_gaps(vms: Sequence[RawVm], datastore_names: Mapping[str, str]) -> LayoutGaps:
    folders: set[str] = set()
    stores: set[str] = set()
    everywhere = False
    names: list[str] = []
    for vm in vms:
        if not vm.missing:
            continue
        names.append(f"{vm.name or vm.moref} ({', '.join(vm.missing)})")
        if vm.home:
            folders.add(folder_of(normalize_path(vm.home)))
            continue
        known = {datastore_names.get(m, "") for m in vm.datastores} - {""}
        if known and "datastore" not in vm.missing:
            stores |= known
        else:
            everywhere = True
    return LayoutGaps(frozenset(folders), frozenset(stores), everywhere, tuple(names))


def unused_vmx_folders(markers: Iterable[str], vms: Sequence[RawVm]) -> set[str]:
    """Folders holding a ``.vmx`` that none of ``vms`` has as its configuration file (rule 3).

    A VM's configuration file is its ``config.files.vmPathName``, read for every VM in pass 1.
    """
    used = {normalize_path(vm.home) for vm in vms if vm.home}
    return {folder_of(m) for m in markers if m not in used}
