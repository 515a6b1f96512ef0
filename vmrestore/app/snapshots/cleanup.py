"""The cleanup use case: plan the exact list, pre-flight it, remove snapshots as engine jobs, verify.

The plan offers a snapshot only when every given criterion holds, and never one younger than
``snapshot_cleanup_min_age_hours`` (settings, 24 h by default) or one whose VM has a task queued or
running (read from the VM's ``recentTask`` and each task's ``info.state``): a leftover that young, or a
snapshot of a VM being worked on, is most likely a backup in progress. Those are listed as held back,
with the reason, in the plan the GUI shows and ``snapshots cleanup --dry-run`` prints.

One engine job per datastore (resource key ``datastore:<name>``), so at most one removal runs per
datastore at a time while different datastores proceed side by side; every removal is audited
(``snapshot_cleanup``) and cancel takes effect between snapshots. After the jobs, a fresh scan checks
that each snapshot is really gone; the bytes freed are the VMs' snapshot bytes before minus after.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vmrestore.app.ports import AuditTrail, JobQueue, RoleGate, SessionSource
from vmrestore.app.snapshots.scan import ScanSnapshots, SnapshotSettings
from vmrestore.app.snapshots.types import ClassifiedSnapshot, SnapshotClass, SnapshotReport
from vmrestore.engine import resourcelock
from vmrestore.engine.jobcontext import JobContext, JobHandle
from vmrestore.errors import Cancelled, InvalidInput, NotFound, Refused, VmrestoreError
from vmrestore.model import Action, ResourceKey, ResourceKind
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.snapshots import ops

log = logging.getLogger(__name__)

JOB_KIND = "snapshot_cleanup"


@dataclass(frozen=True, slots=True)
class CleanupCriteria:
    """Which snapshots to remove: every given criterion must hold, each ticked class included."""

    older_than_days: float | None = None
    classes: frozenset[SnapshotClass] = frozenset()
    vms: frozenset[str] = frozenset()  # VM names
    datastore: str | None = None

    @property
    def empty(self) -> bool:
        return self.older_than_days is None and not self.classes and not self.vms and self.datastore is None

    def matches(self, s: ClassifiedSnapshot) -> bool:
        if self.older_than_days is not None and s.age_days < self.older_than_days:
            return False
        if not self.classes.issubset(s.classes):
            return False
        if self.vms and s.vm not in self.vms:
            return False
        return not (self.datastore is not None and s.datastore not in ("", self.datastore))


@dataclass(frozen=True, slots=True)
class PlanItem:
    vm: str
    vm_moref: str
    moref: str
    name: str
    size: int
    datastore: str
    reasons: tuple[str, ...]
    classes: tuple[str, ...]
    created: str
    depth: int = 0
    remove_children: bool = False

    @classmethod
    def of(cls, s: ClassifiedSnapshot, remove_children: bool = False) -> PlanItem:
        return cls(
            vm=s.vm, vm_moref=s.vm_moref, moref=s.moref, name=s.name, size=s.size, datastore=s.datastore,
            reasons=s.reasons, classes=tuple(str(c) for c in s.classes), created=s.snapshot.created.isoformat(),
            depth=s.snapshot.depth, remove_children=remove_children,
        )

    @property
    def target(self) -> str:
        return f"{self.vm}/{self.name} ({self.moref})"

    def to_json(self) -> dict[str, Any]:
        return {"vm": self.vm, "vm_moref": self.vm_moref, "snapshot": self.name, "moref": self.moref,
                "size": self.size, "datastore": self.datastore, "classes": list(self.classes),
                "reasons": list(self.reasons), "created": self.created, "remove_children": self.remove_children}


@dataclass(frozen=True, slots=True)
class HeldBack:
    """A snapshot the criteria chose and the plan does not offer, with the reason."""

    item: PlanItem
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {**self.item.to_json(), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class CleanupPlan:
    items: tuple[PlanItem, ...]
    report: SnapshotReport
    held_back: tuple[HeldBack, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(i.size for i in self.items)

    def without(self, morefs: Iterable[str]) -> CleanupPlan:
        """The plan minus the snapshots the operator unticked."""
        drop = set(morefs)
        return replace(self, items=tuple(i for i in self.items if i.moref not in drop))


@dataclass(frozen=True, slots=True)
class PreflightProblem:
    moref: str
    reason: str


@dataclass(frozen=True, slots=True)
class Preflight:
    ok: tuple[PlanItem, ...]
    blocked: tuple[tuple[PlanItem, str], ...]


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    item: PlanItem
    ok: bool
    reason: str | None = None
    error_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = self.item.to_json()
        if not self.ok:
            out["reason"] = self.reason
            out["error"] = self.error_code
        return out


@dataclass
class CleanupReport:
    plan: CleanupPlan
    removed: list[ItemOutcome] = field(default_factory=list)
    failed: list[ItemOutcome] = field(default_factory=list)
    freed_bytes: int = 0
    cancelled: bool = False
    verified: bool = False

    @property
    def refused(self) -> bool:
        """A removal was refused by vCenter permissions (the CLI exits 3)."""
        return any(o.error_code in ("no_permission", "role_denied") for o in self.failed)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": [i.to_json() for i in self.plan.items],
            "removed": [o.to_json() for o in self.removed],
            "failed": [o.to_json() for o in self.failed],
            "freed_bytes": self.freed_bytes,
            "cancelled": self.cancelled,
            "verified": self.verified,
        }


def parse_age(text: str) -> float:
    """``7d``, ``12h``, ``2w`` or a plain number of days → days."""
    t = text.strip().lower()
    units = {"d": 1.0, "h": 1 / 24, "w": 7.0, "m": 1 / 1440}
    try:
        if t and t[-1] in units:
            return float(t[:-1]) * units[t[-1]]
        return float(t)
    except ValueError as exc:
        raise InvalidInput(f"not an age: {text!r} (use e.g. 7d, 12h, 2w)") from exc


def make_plan(
    report: SnapshotReport,
    criteria: CleanupCriteria,
    *,
    remove_children: bool = False,
    min_age_hours: float = 0.0,
    busy: Mapping[str, Sequence[str]] | None = None,
) -> CleanupPlan:
    """The exact list: matching snapshots, deepest first within a VM (a child before its parent).

    Never offered (held back, with the reason): a snapshot younger than ``min_age_hours``, any snapshot
    of a VM in ``busy`` (VM moref → descriptions of its queued/running tasks), and, with
    ``remove_children``, a snapshot whose subtree holds one too young (its removal would take it along).
    With ``remove_children`` a selected snapshot takes its subtree along; selected descendants are then
    dropped from the list, because their parent's removal removes them.
    """
    busy = busy or {}
    by_moref = {s.moref: s for s in report.snapshots}
    parents = {s.moref: s.snapshot.parent for s in report.snapshots}

    def too_young(s: ClassifiedSnapshot) -> bool:
        return min_age_hours > 0 and s.age_days * 24 < min_age_hours

    def young_reason(s: ClassifiedSnapshot) -> str:
        return (f"only {s.age_days * 24:.1f} h old (younger than {min_age_hours:g} h): most likely a backup "
                "in progress")

    def ancestors(moref: str) -> Iterable[str]:
        p = parents.get(moref)
        while p is not None:
            yield p
            p = parents.get(p)

    chosen: list[ClassifiedSnapshot] = []
    held: list[HeldBack] = []
    for s in report.snapshots:
        if not criteria.matches(s):
            continue
        reason = None
        if s.vm_moref in busy:
            reason = (f"a task is running on {s.vm} ({', '.join(busy[s.vm_moref])}): a backup may be using "
                      "this snapshot")
        elif too_young(s):
            reason = young_reason(s)
        elif remove_children:
            young = [d for d in by_moref.values() if s.moref in set(ancestors(d.moref)) and too_young(d)]
            if young:
                reason = f"its child snapshot '{young[0].name}' is {young_reason(young[0])}"
        if reason is None:
            chosen.append(s)
        else:
            held.append(HeldBack(PlanItem.of(s, remove_children), reason))
    if remove_children:
        selected = {s.moref for s in chosen}
        chosen = [s for s in chosen if not any(a in selected for a in ancestors(s.moref))]
    chosen.sort(key=lambda s: (s.vm.casefold(), s.vm_moref, -s.snapshot.depth, s.snapshot.created))
    return CleanupPlan(tuple(PlanItem.of(s, remove_children) for s in chosen), report, tuple(held))


@dataclass(frozen=True, slots=True)
class DryRun:
    """What a run would do now: the plan (with what it holds back) and the pre-flight of its items."""

    plan: CleanupPlan
    preflight: Preflight

    @property
    def offered(self) -> CleanupPlan:
        """The plan minus what the pre-flight blocks: exactly what a run would try to remove."""
        return replace(self.plan, items=self.preflight.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": [i.to_json() for i in self.preflight.ok],
            "held_back": [h.to_json() for h in self.plan.held_back],
            "blocked": [{**i.to_json(), "reason": why} for i, why in self.preflight.blocked],
            "removed": [], "failed": [], "freed_bytes": 0, "dry_run": True,
        }


Listener = Callable[[str, PlanItem | None, str], None]  # (event, item, text): "start", "done", "failed", "log"


class CleanupSnapshots:
    """Plan → pre-flight → run (engine jobs) → verify → report. Admin only."""

    def __init__(
        self,
        connection: SessionSource,
        gate: RoleGate,
        audit: AuditTrail,
        jobs: JobQueue,
        settings: SnapshotSettings,
        lock_home: Path,
        scanner: ScanSnapshots,
    ) -> None:
        self.connection = connection
        self.gate = gate
        self.audit = audit
        self.jobs = jobs
        self.settings = settings
        self.lock_home = lock_home
        self.scanner = scanner
        self._handles: list[JobHandle] = []
        self._cancelled = False

    # -- plan and pre-flight ---------------------------------------------------------------------
    def plan_blocking(
        self, report: SnapshotReport, criteria: CleanupCriteria, *, remove_children: bool = False
    ) -> CleanupPlan:
        """The plan, holding back young snapshots and those of VMs with a task queued or running."""
        self.gate.require(Action.SNAPSHOT_CLEANUP)
        candidates = {s.vm_moref for s in report.snapshots if criteria.matches(s)}
        busy: dict[str, list[str]] = {}
        if candidates:
            for task in ops.running_tasks(self.connection.session, sorted(candidates)):
                busy.setdefault(task.vm, []).append(task.description)
        return make_plan(report, criteria, remove_children=remove_children,
                         min_age_hours=float(self.settings.snapshot_cleanup_min_age_hours), busy=busy)

    async def plan(
        self, report: SnapshotReport, criteria: CleanupCriteria, *, remove_children: bool = False
    ) -> CleanupPlan:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: self.plan_blocking(report, criteria, remove_children=remove_children))

    def dry_run_blocking(
        self, report: SnapshotReport, criteria: CleanupCriteria, *, remove_children: bool = False
    ) -> DryRun:
        """What ``snapshots cleanup --dry-run`` prints and the wizard shows before its run button."""
        plan = self.plan_blocking(report, criteria, remove_children=remove_children)
        return DryRun(plan, self.preflight_blocking(plan))

    async def dry_run(
        self, report: SnapshotReport, criteria: CleanupCriteria, *, remove_children: bool = False
    ) -> DryRun:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: self.dry_run_blocking(report, criteria, remove_children=remove_children))

    def preflight_blocking(self, plan: CleanupPlan) -> Preflight:
        """Free space for the consolidation, a task (a backup) running on the VM, host in maintenance."""
        self.gate.require(Action.SNAPSHOT_CLEANUP)
        session = self.connection.session
        report = plan.report
        free = {d.datastore.name: d.datastore.free for d in report.datastores}
        hosts = {h.moref: h for h in report.scan.hosts}
        vm_host = {r.vm.moref: r.vm.host for r in report.vms}
        busy: dict[str, list[str]] = {}
        for task in ops.running_tasks(session, [i.vm_moref for i in plan.items]):
            busy.setdefault(task.vm, []).append(task.description)
        need: dict[str, int] = {}
        ok: list[PlanItem] = []
        blocked: list[tuple[PlanItem, str]] = []
        for item in plan.items:
            reasons = []
            if item.vm_moref in busy:
                reasons.append(f"a task is running on {item.vm} ({', '.join(busy[item.vm_moref])}); "
                               "a backup may be using this snapshot")
            host = hosts.get(vm_host.get(item.vm_moref) or "")
            if host is not None and host.in_maintenance:
                reasons.append(f"host {host.name} is in maintenance mode")
            if item.datastore:
                need[item.datastore] = need.get(item.datastore, 0) + item.size
                if item.datastore in free and need[item.datastore] > free[item.datastore]:
                    reasons.append(f"datastore {item.datastore} lacks free space for the consolidation "
                                   f"(needs up to {need[item.datastore]} bytes, {free[item.datastore]} free)")
            if reasons:
                blocked.append((item, "; ".join(reasons)))
            else:
                ok.append(item)
        return Preflight(tuple(ok), tuple(blocked))

    async def preflight(self, plan: CleanupPlan) -> Preflight:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.preflight_blocking, plan)

    # -- run -------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop after the snapshot being removed now (a removal in progress is never torn)."""
        self._cancelled = True
        for handle in self._handles:
            handle.cancel_event.set()

    async def run(
        self, plan: CleanupPlan, *, listener: Listener | None = None, skip_preflight: bool = False,
        verify: bool = True,
    ) -> CleanupReport:
        self.gate.require(Action.SNAPSHOT_CLEANUP)
        self._cancelled = False
        say: Listener = listener or (lambda _e, _i, _t: None)
        report = CleanupReport(plan=plan)
        items = list(plan.items)
        if not skip_preflight:
            checked = await self.preflight(plan)
            items = list(checked.ok)
            for item, reason in checked.blocked:
                report.failed.append(ItemOutcome(item, False, f"pre-flight: {reason}", "preflight"))
                say("failed", item, reason)
        groups: dict[str, list[PlanItem]] = {}
        for item in items:
            groups.setdefault(item.datastore or "-", []).append(item)
        self._handles = [
            self.jobs.submit(_DatastoreCleanupJob(self.connection, self.audit, self.lock_home, ds, group, report, say))
            for ds, group in groups.items()
        ]
        if self._cancelled:
            for handle in self._handles:
                handle.cancel()
        for handle in self._handles:
            try:
                await handle.wait()
            except Cancelled:
                report.cancelled = True
            except VmrestoreError as exc:
                log.warning("cleanup job failed: %s", exc)
        done = {o.item.moref for o in report.removed} | {o.item.moref for o in report.failed}
        for item in items:
            if item.moref not in done:
                report.failed.append(ItemOutcome(item, False, "not removed: the cleanup was cancelled", "cancelled"))
                report.cancelled = True
        if verify:
            say("log", None, "Scanning again to verify")
            await self._verify(report)
        return report

    async def _verify(self, report: CleanupReport) -> None:
        after = await self.scanner.run(orphans=False)
        present = {s.moref for s in after.snapshots}
        involved = {o.item.vm_moref for o in report.removed}
        before_bytes = sum(r.delta_bytes for r in report.plan.report.vms if r.vm.moref in involved)
        after_bytes = sum(r.delta_bytes for r in after.vms if r.vm.moref in involved)
        still = [o for o in report.removed if o.item.moref in present]
        for outcome in still:
            report.removed.remove(outcome)
            report.failed.append(ItemOutcome(outcome.item, False, "still present after removal", "not_removed"))
        report.freed_bytes = max(0, before_bytes - after_bytes)
        report.verified = True


class _DatastoreCleanupJob:
    """Removes the planned snapshots of one datastore, one at a time (an engine job)."""

    kind = JOB_KIND

    def __init__(
        self, connection: SessionSource, audit: AuditTrail, lock_home: Path, datastore: str,
        items: Sequence[PlanItem], report: CleanupReport, say: Listener,
    ) -> None:
        self.connection = connection
        self.audit = audit
        self.lock_home = lock_home
        self.datastore = datastore
        self.items = list(items)
        self.report = report
        self.say = say
        self.title = f"Remove {len(items)} snapshot(s) on {datastore}"
        self.resource_keys = (str(ResourceKey(ResourceKind.DATASTORE, datastore)),)

    async def run(self, ctx: JobContext) -> int:
        session = self.connection.session
        total = len(self.items)
        for index, item in enumerate(self.items):
            ctx.check_cancelled()
            ctx.progress(index / total, f"Removing {item.vm} / {item.name}")
            self.say("start", item, f"Removing {item.vm} / {item.name}")
            try:
                await ctx.run_blocking(self._remove_one, session, item, ctx.cancel_event)
            except NotFound:
                # Gone already (another tool, or an earlier run killed after the task): the goal holds.
                self.report.removed.append(ItemOutcome(item, True, "already gone"))
                self.say("done", item, "already gone")
                continue
            except Refused as exc:
                self.report.failed.append(ItemOutcome(item, False, str(exc), exc.code))
                self.say("failed", item, str(exc))
                continue
            except Cancelled:
                raise
            except VmrestoreError as exc:
                self.report.failed.append(ItemOutcome(item, False, str(exc), exc.code))
                self.say("failed", item, str(exc))
                continue
            self.report.removed.append(ItemOutcome(item, True))
            ctx.log(f"removed {item.target}")
            self.say("done", item, "removed")
        ctx.progress(1.0, f"Done on {self.datastore}")
        return total

    def _remove_one(self, session: VsphereSession, item: PlanItem, cancel: threading.Event) -> None:
        # The scheduler keeps this process to one removal per datastore; the OS lock does the same across
        # processes (the app and a scheduled CLI cleanup), held for the whole removal and consolidation.
        key = resourcelock.datastore_key(session.server, item.datastore or "-")
        with resourcelock.resource_lock(self.lock_home, key, cancel=cancel,  # noqa: SIM117
                                        on_wait=f"datastore {item.datastore}"):
            with self.audit.audited(Action.SNAPSHOT_CLEANUP, item.target, size=item.size,
                                       datastore=item.datastore, remove_children=item.remove_children):
                ops.remove_snapshot(session, item.moref, remove_children=item.remove_children, consolidate=True)
