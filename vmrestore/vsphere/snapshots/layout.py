"""Which delta files belong to which snapshot: pure functions over a VM's ``layoutEx``.

``layoutEx.disk[].chain`` (the running disks) and ``layoutEx.snapshot[].disk[].chain`` (each disk as it
was when the snapshot was taken) list disk *units* (a descriptor and its extents). The delta unit that
follows a snapshot's last unit in any chain is what the VM wrote after that snapshot: removing the
snapshot merges it away, so it is that snapshot's cost. ``.vmsn`` (``dataKey``) and ``.vmem``
(``memoryKey``) belong to the snapshot directly.

Chain order: vSphere lists base first; the govmomi simulator lists the running delta first. Rather than
trust either, a chain is oriented so that the unit whose descriptor is not named like a delta comes
first (and left as given when that cannot be told).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from vmrestore.vsphere.snapshots.raw import RawDisk, RawVm, iter_trees
from vmrestore.vsphere.snapshots.types import LayoutFile, SnapshotRecord, VmSnapshotState

# Delta disk files: disk-000001.vmdk / disk-000001-delta.vmdk / -sesparse.vmdk / (simulator) -flat.vmdk,
# and the older "-delta.vmdk" naming without a number.
DELTA_NAME = re.compile(
    r"(-\d{6}(-(delta|sesparse|flat|ctk))?\.vmdk|-(delta|sesparse)\.vmdk)$", re.IGNORECASE
)
SNAPSHOT_FILE = re.compile(r"\.(vmsn|vmem)$", re.IGNORECASE)

Unit = tuple[int, ...]


def datastore_of(path: str) -> str:
    """``[ds1] vm/x.vmdk`` → ``ds1``."""
    if path.startswith("[") and "]" in path:
        return path[1 : path.index("]")]
    return ""


def is_delta_name(path: str) -> bool:
    return bool(DELTA_NAME.search(path))


def _unit_is_delta(vm: RawVm, unit: Unit) -> bool:
    names = [vm.files[k].name for k in unit if k in vm.files]
    descriptors = [vm.files[k].name for k in unit if k in vm.files and vm.files[k].type == "diskDescriptor"]
    return any(is_delta_name(n) for n in (descriptors or names))


def oriented(vm: RawVm, chain: Sequence[Unit]) -> tuple[Unit, ...]:
    """The chain with its base unit first."""
    units = tuple(chain)
    if len(units) > 1 and _unit_is_delta(vm, units[0]) and not _unit_is_delta(vm, units[-1]):
        return units[::-1]
    return units


def _chains(disks: Iterable[RawDisk], vm: RawVm) -> dict[int, tuple[Unit, ...]]:
    return {d.key: oriented(vm, d.chain) for d in disks if d.chain}


# The layout types each kind of snapshot file must have. A key that points at a file of another type
# is a stale key (the simulator renumbers files on RefreshStorageInfo and keeps old snapshot keys);
# such a file is not counted rather than counted as the wrong thing.
_KIND_TYPES = {
    "delta": {"diskDescriptor", "diskExtent"},
    "data": {"snapshotData"},
    "memory": {"snapshotMemory"},
}


def _files(vm: RawVm, keys: Iterable[int], kind: str) -> list[LayoutFile]:
    allowed = _KIND_TYPES[kind]
    return [
        LayoutFile(vm.files[k].name, vm.files[k].size, kind)
        for k in keys
        if k in vm.files and vm.files[k].type in allowed
    ]


def build_vm(vm: RawVm) -> VmSnapshotState:
    """Flatten the snapshot tree and attach each snapshot's delta, ``.vmsn`` and ``.vmem`` files."""
    layouts = {sl.snapshot: sl for sl in vm.snapshot_layouts}
    # disk key → last unit of that disk's chain when the snapshot was taken → snapshot moref
    owner_of_tail: dict[tuple[int, Unit], str] = {}
    all_chains: list[tuple[int, tuple[Unit, ...]]] = list(_chains(vm.disks, vm).items())
    for moref, layout in layouts.items():
        for disk_key, chain in _chains(layout.disks, vm).items():
            owner_of_tail[(disk_key, chain[-1])] = moref
            all_chains.append((disk_key, chain))

    unit_owner: dict[Unit, str] = {}  # first owner wins (branches after one snapshot share its tail)
    deltas: dict[Unit, None] = {}  # every delta unit, in first-seen order
    for disk_key, chain in all_chains:
        for i in range(1, len(chain)):
            deltas[chain[i]] = None
            owner = owner_of_tail.get((disk_key, chain[i - 1]))
            if owner is not None:
                unit_owner.setdefault(chain[i], owner)
    owned: dict[str, list[Unit]] = {}
    for unit, owner in unit_owner.items():
        owned.setdefault(owner, []).append(unit)

    records: list[SnapshotRecord] = []
    for node, parent, depth in iter_trees(vm.roots):
        sl = layouts.get(node.moref)
        files = [f for unit in owned.get(node.moref, ()) for f in _files(vm, unit, "delta")]
        memory = node.state == "poweredOn"
        if sl is not None:
            if sl.data_key >= 0:
                files += _files(vm, [sl.data_key], "data")
            if sl.memory_key >= 0:
                files += _files(vm, [sl.memory_key], "memory")
                memory = True
        records.append(
            SnapshotRecord(
                moref=node.moref,
                name=node.name,
                description=node.description,
                created=node.created,
                quiesced=node.quiesced,
                memory=memory,
                power_state=node.state,
                parent=parent.moref if parent is not None else None,
                depth=depth,
                is_current=node.moref == vm.current_snapshot,
                children=tuple(c.moref for c in node.children),
                files=tuple(files),
            )
        )
    unowned = [f for unit in deltas if unit not in unit_owner for f in _files(vm, unit, "delta")]

    per_ds: dict[str, int] = {}
    for f in [f for r in records for f in r.files] + unowned:
        ds = datastore_of(f.path)
        per_ds[ds] = per_ds.get(ds, 0) + f.size
    return VmSnapshotState(
        moref=vm.moref,
        name=vm.name,
        power_state=vm.power_state,
        host=vm.host,
        datastores=vm.datastores,
        consolidation_needed=vm.consolidation_needed,
        snapshots=tuple(records),
        unowned_delta=tuple(unowned),
        delta_by_datastore=tuple(sorted(per_ds.items())),
    )


def referenced_paths(vm: RawVm) -> set[str]:
    """Every file name in the VM's layout, normalised (for orphan detection).

    Conservative on purpose, because what is not referenced may be offered for deletion: a name listed
    at the datastore root (``[ds] x.vmsn``) also protects ``x`` in the VM's home folder. vCenter lists
    full paths; the simulator drops the folder after ``RefreshStorageInfo`` and after a snapshot removal.
    """
    out = {normalize_path(f.name) for f in vm.files.values()}
    if not vm.has_layout_ex:
        # Only the chain descriptors are known (pass 1): protect their extents by name as well.
        for chain in vm.disk_files:
            for descriptor in chain:
                path = normalize_path(descriptor)
                out.add(path)
                if path.lower().endswith(".vmdk"):
                    stem = path[: -len(".vmdk")]
                    out.update(f"{stem}-{kind}.vmdk" for kind in ("flat", "delta", "sesparse", "ctk"))
    home = normalize_path(vm.home) if vm.home else ""
    if home and "/" in home:
        folder = home.rsplit("/", 1)[0]
        ds = datastore_of(home)
        for f in vm.files.values():
            name = normalize_path(f.name)
            if datastore_of(name) == ds and "/" not in name:
                out.add(f"{folder}/{name[len(ds) + 3:]}")
    return out


# A path already in normal form (nearly every one vCenter sends): returned as it is, without splitting.
_NORMAL = re.compile(r"\[[^\]]*\] (?:(?=\S)[^/\\]+(?:/[^/\\]+)*(?<=\S))?")


def normalize_path(path: str) -> str:
    """``[ds] a/b.vmdk``, ``[ds]/a/b.vmdk`` and ``[ds] a//b.vmdk`` → ``[ds] a/b.vmdk``."""
    if _NORMAL.fullmatch(path):
        return path
    ds = datastore_of(path)
    rest = path[path.index("]") + 1 :] if ds or path.startswith("[") else path
    parts = [p for p in rest.strip().replace("\\", "/").split("/") if p]
    return f"[{ds}] " + "/".join(parts)
