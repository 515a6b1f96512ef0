"""The cleanup plan's rules: every ticked condition holds, young snapshots and busy VMs are never offered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vmrestore.app.snapshots.classify import Thresholds, build_report
from vmrestore.app.snapshots.cleanup import CleanupCriteria, make_plan
from vmrestore.app.snapshots.types import SnapshotClass, SnapshotReport
from vmrestore.vsphere.snapshots.types import ScanResult, SnapshotRecord, VmSnapshotState

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
LEFTOVER = frozenset({SnapshotClass.LEFTOVER})


def _snap(moref: str, name: str, days: float, parent: str | None = None, depth: int = 0) -> SnapshotRecord:
    return SnapshotRecord(moref, name, "", NOW - timedelta(days=days), False, False, "poweredOn", parent, depth,
                          False)


def _report(*vms: tuple[str, tuple[SnapshotRecord, ...]]) -> SnapshotReport:
    states = tuple(VmSnapshotState(moref, f"vm{moref}", "poweredOn", None, (), False, snaps) for moref, snaps in vms)
    return build_report(ScanResult(NOW, states, ()), Thresholds(max_age_days=7), NOW)


def test_leftover_and_age_both_ticked_both_must_hold() -> None:
    """The reported case: a 0-day-old Veeam snapshot with "leftover" and "older than 7 days" ticked."""
    rep = _report(("vm-1", (_snap("s-young", "VEEAM BACKUP TEMPORARY SNAPSHOT", 0.0),
                            _snap("s-old", "VEEAM BACKUP TEMPORARY SNAPSHOT", 30),
                            _snap("s-plain-old", "before patching", 30))))
    plan = make_plan(rep, CleanupCriteria(older_than_days=7, classes=LEFTOVER))
    assert [i.moref for i in plan.items] == ["s-old"]
    # Two classes ticked: a snapshot must carry both, not either.
    both = make_plan(rep, CleanupCriteria(classes=frozenset({SnapshotClass.LEFTOVER, SnapshotClass.OLD})))
    assert [i.moref for i in both.items] == ["s-old"]


def test_young_snapshots_are_held_back_with_the_reason() -> None:
    rep = _report(("vm-1", (_snap("s-young", "VEEAM BACKUP TEMPORARY SNAPSHOT", 0.2),
                            _snap("s-old", "ghettoVCB-snapshot-2026-10-01", 3))))
    plan = make_plan(rep, CleanupCriteria(classes=LEFTOVER), min_age_hours=24)
    assert [i.moref for i in plan.items] == ["s-old"]
    (held,) = plan.held_back
    assert held.item.moref == "s-young" and "younger than 24 h" in held.reason
    assert held.to_json()["reason"] == held.reason and held.to_json()["snapshot"] == "VEEAM BACKUP TEMPORARY SNAPSHOT"
    # The guard off (0): offered.
    assert len(make_plan(rep, CleanupCriteria(classes=LEFTOVER), min_age_hours=0).items) == 2


def test_a_vm_with_a_running_task_offers_nothing() -> None:
    rep = _report(("vm-1", (_snap("s-1", "VEEAM BACKUP TEMPORARY SNAPSHOT", 30),)),
                  ("vm-2", (_snap("s-2", "VEEAM BACKUP TEMPORARY SNAPSHOT", 30),)))
    plan = make_plan(rep, CleanupCriteria(classes=LEFTOVER), min_age_hours=24,
                     busy={"vm-1": ["com.veeam.backup.job"]})
    assert [i.moref for i in plan.items] == ["s-2"]
    assert [h.item.moref for h in plan.held_back] == ["s-1"]
    assert "com.veeam.backup.job" in plan.held_back[0].reason


def test_with_children_a_young_child_holds_its_parent_back() -> None:
    rep = _report(("vm-1", (_snap("s-root", "old", 30), _snap("s-child", "new", 0.1, parent="s-root", depth=1))))
    plan = make_plan(rep, CleanupCriteria(older_than_days=7), remove_children=True, min_age_hours=24)
    assert plan.items == ()
    assert [h.item.moref for h in plan.held_back] == ["s-root"] and "child snapshot 'new'" in plan.held_back[0].reason
    # Without the children, the old root alone is fine (its child stays, re-parented).
    assert [i.moref for i in make_plan(rep, CleanupCriteria(older_than_days=7), min_age_hours=24).items] == ["s-root"]
