"""Classify each snapshot, with the reasons an operator sees: leftover, old, large, risky.

Pure functions over a scan: no vCenter, no clock (``now`` is a parameter), so the rules are tested
directly. Leftover rules (``leftovers``) match a snapshot's *name and description only*: a VM called
``VEEAM BACKUP TEMPORARY SNAPSHOT`` is a VM, not a snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from vmrestore.app.snapshots.leftovers import kept_by_design, leftover_reason
from vmrestore.app.snapshots.types import (
    ClassifiedSnapshot,
    DatastoreSummary,
    SnapshotClass,
    SnapshotReport,
    VmReport,
)
from vmrestore.model import format_size
from vmrestore.vsphere.snapshots.types import ScanResult, SnapshotRecord, VmSnapshotState

if TYPE_CHECKING:
    from vmrestore.app.snapshots.scan import SnapshotSettings

SECONDS_PER_DAY = 86400.0
# A datastore is risky when its snapshots, growing as fast as they did so far, fill it within this
# many days, or when less than this share of it is free.
RISK_HORIZON_DAYS = 3.0
RISK_MIN_FREE_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Thresholds:
    max_age_days: float = 7
    max_bytes: int = 20 * 1024**3
    max_datastore_share: float = 0.10
    leftover_patterns: tuple[str, ...] = ()
    horizon_days: float = RISK_HORIZON_DAYS

    @classmethod
    def from_settings(cls, settings: SnapshotSettings) -> Thresholds:
        return cls(
            max_age_days=float(settings.snapshot_max_age_days),
            max_bytes=int(settings.snapshot_max_bytes),
            max_datastore_share=float(settings.snapshot_max_datastore_share),
            leftover_patterns=tuple(str(p) for p in settings.leftover_patterns),
        )


def age_days(snapshot: SnapshotRecord, now: datetime) -> float:
    return max(0.0, (now - snapshot.created).total_seconds() / SECONDS_PER_DAY)


def main_datastore(snapshot: SnapshotRecord) -> str:
    totals: dict[str, int] = {}
    for f in snapshot.files:
        ds = f.path[1 : f.path.index("]")] if f.path.startswith("[") and "]" in f.path else ""
        totals[ds] = totals.get(ds, 0) + f.size
    if not totals:
        return ""
    return max(sorted(totals), key=lambda d: totals[d])


def datastore_totals(vms: Iterable[VmSnapshotState]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for vm in vms:
        for ds, size in vm.delta_by_datastore:
            totals[ds] = totals.get(ds, 0) + size
    return totals


def growth_per_day(vms: Iterable[VmSnapshotState], now: datetime) -> dict[str, float]:
    """Bytes per day each datastore's snapshots grew on average since they were taken."""
    rates: dict[str, float] = {}
    for vm in vms:
        for snap in vm.snapshots:
            days = max(age_days(snap, now), 1 / 24)  # a snapshot minutes old must not look explosive
            for f in snap.files:
                if f.kind != "delta":
                    continue
                ds = f.path[1 : f.path.index("]")] if f.path.startswith("[") else ""
                rates[ds] = rates.get(ds, 0.0) + f.size / days
    return rates


def risky_datastores(result: ScanResult, now: datetime, horizon_days: float) -> dict[str, str]:
    """Datastore name → why it is at risk."""
    rates = growth_per_day(result.vms, now)
    out: dict[str, str] = {}
    for ds in result.datastores:
        if ds.capacity > 0 and ds.free < ds.capacity * RISK_MIN_FREE_SHARE:
            out[ds.name] = f"datastore {ds.name} has only {format_size(ds.free)} free ({ds.free / ds.capacity:.0%})"
            continue
        rate = rates.get(ds.name, 0.0)
        if rate > 0 and ds.free / rate <= horizon_days:
            out[ds.name] = (f"datastore {ds.name} fills in about {ds.free / rate:.1f} days at the current "
                            f"snapshot growth ({format_size(rate)}/day, {format_size(ds.free)} free)")
    return out


def classify_snapshot(
    vm: VmSnapshotState,
    snap: SnapshotRecord,
    *,
    now: datetime,
    thresholds: Thresholds,
    capacity: dict[str, int],
    risky: dict[str, str],
) -> ClassifiedSnapshot:
    classes: list[SnapshotClass] = []
    reasons: list[str] = []
    kept = kept_by_design(snap)
    if kept:
        reasons.append(kept)
    leftover = leftover_reason(snap, thresholds.leftover_patterns)
    if leftover:
        classes.append(SnapshotClass.LEFTOVER)
        reasons.append(leftover)
    age = age_days(snap, now)
    if age > thresholds.max_age_days:
        classes.append(SnapshotClass.OLD)
        reasons.append(f"{age:.1f} days old (limit {thresholds.max_age_days:g})")
    ds = main_datastore(snap)
    size = snap.size
    cap = capacity.get(ds, 0)
    if size > thresholds.max_bytes:
        classes.append(SnapshotClass.LARGE)
        reasons.append(f"{format_size(size)} of delta (limit {format_size(thresholds.max_bytes)})")
    elif cap > 0 and size / cap > thresholds.max_datastore_share:
        classes.append(SnapshotClass.LARGE)
        reasons.append(f"{size / cap:.1%} of datastore {ds} (limit {thresholds.max_datastore_share:.0%})")
    risk = [risky[d] for d in sorted({ds, *(d for d, _ in vm.delta_by_datastore)}) if d in risky]
    if vm.consolidation_needed:
        risk.append(f"VM {vm.name} needs disk consolidation")
    if risk:
        classes.append(SnapshotClass.RISKY)
        reasons.extend(dict.fromkeys(risk))
    return ClassifiedSnapshot(
        vm=vm.name, vm_moref=vm.moref, snapshot=snap, age_days=age,
        classes=tuple(classes) or (SnapshotClass.OK,), reasons=tuple(reasons), datastore=ds,
    )


def build_report(result: ScanResult, thresholds: Thresholds, now: datetime) -> SnapshotReport:
    """Classify every snapshot of a scan; VMs without snapshots or deltas are left out."""
    capacity = {d.name: d.capacity for d in result.datastores}
    risky = risky_datastores(result, now, thresholds.horizon_days)
    vms = []
    for vm in result.vms:
        if not vm.snapshots and not vm.unowned_delta and not vm.consolidation_needed:
            continue
        snaps = tuple(
            classify_snapshot(vm, s, now=now, thresholds=thresholds, capacity=capacity, risky=risky)
            for s in vm.snapshots
        )
        vms.append(VmReport(vm, snaps))
    vms.sort(key=lambda r: (r.vm.name.casefold(), r.vm.moref))
    totals = datastore_totals(result.vms)
    stores = tuple(DatastoreSummary(d, totals.get(d.name, 0)) for d in result.datastores)
    return SnapshotReport(
        scan=result, vms=tuple(vms), datastores=stores, generated=now,
        settings={"max_age_days": thresholds.max_age_days, "max_bytes": thresholds.max_bytes,
                  "max_datastore_share": thresholds.max_datastore_share},
    )
