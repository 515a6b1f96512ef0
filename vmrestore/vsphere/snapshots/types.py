"""What a snapshot scan returns: frozen values, no pyVmomi objects (and no pyVmomi import here).

Sizes are bytes as Python ints; times are timezone-aware UTC datetimes. Paths are datastore paths as
vCenter writes them, ``[ds] folder/file.vmdk``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LayoutFile:
    """One file of a VM's layout that belongs to a snapshot (a delta disk unit, ``.vmsn`` or ``.vmem``)."""

    path: str
    size: int
    kind: str  # "delta" (disk descriptor/extent of a delta), "data" (.vmsn), "memory" (.vmem)


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One node of a VM's snapshot tree, flattened (``parent`` links the tree)."""

    moref: str  # "snapshot-42"
    name: str
    description: str
    created: datetime
    quiesced: bool
    memory: bool
    power_state: str  # the VM's power state when the snapshot was taken
    parent: str | None
    depth: int
    is_current: bool
    children: tuple[str, ...] = ()
    files: tuple[LayoutFile, ...] = ()

    @property
    def size(self) -> int:
        """Bytes that removing this snapshot gives back (its delta units, ``.vmsn`` and ``.vmem``)."""
        return sum(f.size for f in self.files)

    @property
    def delta_bytes(self) -> int:
        return sum(f.size for f in self.files if f.kind == "delta")


@dataclass(frozen=True, slots=True)
class VmSnapshotState:
    """A VM as the snapshot monitor sees it."""

    moref: str
    name: str
    power_state: str
    host: str | None
    datastores: tuple[str, ...]  # datastore morefs
    consolidation_needed: bool
    snapshots: tuple[SnapshotRecord, ...]  # pre-order: parents before children
    unowned_delta: tuple[LayoutFile, ...] = ()  # delta units no snapshot accounts for
    delta_by_datastore: tuple[tuple[str, int], ...] = ()  # (datastore name, bytes)

    @property
    def delta_bytes(self) -> int:
        return sum(s.size for s in self.snapshots) + sum(f.size for f in self.unowned_delta)


@dataclass(frozen=True, slots=True)
class DatastoreState:
    moref: str
    name: str
    capacity: int
    free: int
    accessible: bool
    url: str = ""


@dataclass(frozen=True, slots=True)
class HostState:
    moref: str
    name: str
    in_maintenance: bool


@dataclass(frozen=True, slots=True)
class OrphanFile:
    """A delta or snapshot file on a datastore that no VM's layout references.

    ``deletable`` is False when the scan cannot prove that every VM that could use the file was seen
    (``reason`` says why, see :mod:`coverage`): such a file is listed, never offered for deletion.
    """

    datastore: str
    path: str  # "[ds] folder/file"
    size: int
    modified: datetime | None
    deletable: bool = True
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ScanResult:
    scanned_at: datetime  # when the scan started, by vCenter's clock
    vms: tuple[VmSnapshotState, ...]
    datastores: tuple[DatastoreState, ...]
    hosts: tuple[HostState, ...] = ()
    orphans: tuple[OrphanFile, ...] = ()
    orphans_scanned: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)
    vm_count: int = 0  # every VM read; ``vms`` holds only those with snapshots, deltas or a consolidation
    # Unreferenced snapshot-like files written just before or during the scan: not offered as orphans.
    recent_unreferenced: tuple[OrphanFile, ...] = ()


@dataclass(frozen=True, slots=True)
class RunningTask:
    """A task on a VM that is queued or running (a backup, another snapshot operation...)."""

    vm: str
    task: str
    description: str
    state: str
