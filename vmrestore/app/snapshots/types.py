"""The snapshot monitor's vocabulary as the UI, the CLI's JSON and the tests see it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from vmrestore.vsphere.snapshots.types import (
    DatastoreState,
    HostState,
    LayoutFile,
    OrphanFile,
    ScanResult,
    SnapshotRecord,
    VmSnapshotState,
)

__all__ = [
    "ClassifiedSnapshot",
    "DatastoreState",
    "DatastoreSummary",
    "HostState",
    "LayoutFile",
    "OrphanFile",
    "ScanResult",
    "SnapshotClass",
    "SnapshotRecord",
    "SnapshotReport",
    "VmReport",
    "VmSnapshotState",
]


class SnapshotClass(enum.StrEnum):
    LEFTOVER = "leftover"  # left behind by a backup tool (or by vmrestore)
    OLD = "old"  # older than the age threshold
    LARGE = "large"  # delta over the size threshold or share of its datastore
    RISKY = "risky"  # its datastore would fill up, or the VM needs consolidation
    OK = "ok"  # none of the above


@dataclass(frozen=True, slots=True)
class ClassifiedSnapshot:
    vm: str
    vm_moref: str
    snapshot: SnapshotRecord
    age_days: float
    classes: tuple[SnapshotClass, ...]
    reasons: tuple[str, ...]
    datastore: str  # where most of its bytes are ("" when it has none)

    @property
    def moref(self) -> str:
        return self.snapshot.moref

    @property
    def name(self) -> str:
        return self.snapshot.name

    @property
    def size(self) -> int:
        return self.snapshot.size

    @property
    def primary_class(self) -> SnapshotClass:
        return self.classes[0] if self.classes else SnapshotClass.OK


@dataclass(frozen=True, slots=True)
class VmReport:
    vm: VmSnapshotState
    snapshots: tuple[ClassifiedSnapshot, ...]

    @property
    def delta_bytes(self) -> int:
        return self.vm.delta_bytes


@dataclass(frozen=True, slots=True)
class DatastoreSummary:
    datastore: DatastoreState
    delta_bytes: int

    @property
    def share(self) -> float:
        """Snapshot bytes as a share of the datastore's capacity (0 when the capacity is unknown)."""
        cap = self.datastore.capacity
        return self.delta_bytes / cap if cap > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SnapshotReport:
    scan: ScanResult
    vms: tuple[VmReport, ...]
    datastores: tuple[DatastoreSummary, ...]
    generated: datetime
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def snapshots(self) -> tuple[ClassifiedSnapshot, ...]:
        return tuple(s for vm in self.vms for s in vm.snapshots)

    @property
    def orphans(self) -> tuple[OrphanFile, ...]:
        return self.scan.orphans

    def to_json(self) -> dict[str, object]:
        """The ``snapshots scan --json`` document (shared/CLI.md keys, plus a few more)."""
        return {
            "scanned_at": self.scan.scanned_at.isoformat(),
            "vms": [
                {
                    "vm": r.vm.name,
                    "moref": r.vm.moref,
                    "power_state": r.vm.power_state,
                    "consolidation_needed": r.vm.consolidation_needed,
                    "snapshots": [snapshot_json(s) for s in r.snapshots],
                    "delta_bytes": r.delta_bytes,
                }
                for r in self.vms
            ],
            "datastores": [
                {
                    "name": d.datastore.name,
                    "capacity": d.datastore.capacity,
                    "free": d.datastore.free,
                    "delta_bytes": d.delta_bytes,
                }
                for d in self.datastores
            ],
            "orphan_files": [
                {"path": o.path, "datastore": o.datastore, "size": o.size,
                 "modified": o.modified.isoformat() if o.modified else None,
                 "deletable": o.deletable, "reason": o.reason}
                for o in self.orphans
            ],
            "recent_files": [
                {"path": o.path, "datastore": o.datastore, "size": o.size,
                 "modified": o.modified.isoformat() if o.modified else None}
                for o in self.scan.recent_unreferenced
            ],
            "vm_count": self.scan.vm_count,
            "warnings": list(self.scan.warnings),
        }


def snapshot_json(s: ClassifiedSnapshot) -> dict[str, object]:
    snap = s.snapshot
    return {
        "name": snap.name,
        "moref": snap.moref,
        "description": snap.description,
        "created": snap.created.isoformat(),
        "age_days": round(s.age_days, 2),
        "size": snap.size,
        "class": str(s.primary_class),
        "classes": [str(c) for c in s.classes],
        "reasons": list(s.reasons),
        "quiesced": snap.quiesced,
        "memory": snap.memory,
        "parent": snap.parent,
        "current": snap.is_current,
        "datastore": s.datastore,
        "files": [{"path": f.path, "size": f.size, "kind": f.kind} for f in snap.files],
    }
