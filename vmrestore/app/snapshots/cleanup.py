"""The cleanup use case: plan the exact list, pre-flight it, remove snapshots as engine jobs, verify.

One engine job per datastore (resource key ``datastore:<name>``), so at most one removal runs per
datastore at a time while different datastores proceed side by side; every removal is audited
(``snapshot_cleanup``) and cancel takes effect between snapshots. After the jobs, a fresh scan checks
that each snapshot is really gone; the bytes freed are the VMs' snapshot bytes before minus after.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from vmrestore.app.bootstrap import AppServices
from vmrestore.app.snapshots.scan import ScanSnapshots
from vmrestore.app.snapshots.types import ClassifiedSnapshot, SnapshotClass, SnapshotReport
from vmrestore.engine.jobcontext import JobContext, JobHandle
from vmrestore.engine.resourcelock import datastore_key, resource_lock
from vmrestore.errors import Cancelled, InvalidInput, NotFound, Refused, VmrestoreError
from vmrestore.model import Action
from vmrestore.vsphere.snapshots import ops

log = logging.getLogger(__name__)

JOB_KIND = "snapshot_cleanup"


@dataclass(frozen=True, slots=True)
class CleanupCriteria:
    """Which snapshots to remove: every given criterion must hold (classes: any of them)."""

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
        if self.classes and not self.classes.intersection(s.classes):
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
class CleanupPlan:
    items: tuple[PlanItem, ...]
    report: SnapshotReport

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


def make_plan(report: SnapshotReport, criteria: CleanupCriteria, *, remove_children: bool = False) -> CleanupPlan:
    """The exact list: matching snapshots, deepest first within a VM (a child before its parent).

    With ``remove_children`` a selected snapshot takes its subtree along; selected descendants are then
    dropped from the list, because their parent's removal removes them.
    """
    chosen = [s for s in report.snapshots if criteria.matches(s)]
    if remove_children:
        selected = {s.moref for s in chosen}
        parents = {s.moref: s.snapshot.parent for s in report.snapshots}

        def covered(moref: str) -> bool:
            p = parents.get(moref)
            while p is not None:
                if p in selected:
                    return True
                p = parents.get(p)
            return False

        chosen = [s for s in chosen if not covered(s.moref)]
    chosen.sort(key=lambda s: (s.vm.casefold(), s.vm_moref, -s.snapshot.depth, s.snapshot.created))
    return CleanupPlan(tuple(PlanItem.of(s, remove_children) for s in chosen), report)


Listener = Callable[[str, PlanItem | None, str], None]  # (event, item, text): "start", "done", "failed", "log"


class CleanupSnapshots:
    """Plan → pre-flight → run (engine jobs) → verify → report. Admin only."""

    def __init__(self, services: AppServices, scanner: ScanSnapshots | None = None) -> None:
        self.services = services
        self.scanner = scanner or ScanSnapshots(services)
        self._handles: list[JobHandle] = []
        self._cancelled = False

    # -- plan and pre-flight ---------------------------------------------------------------------
    def plan(self, report: SnapshotReport, criteria: CleanupCriteria, *, remove_children: bool = False) -> CleanupPlan:
        self.services.require(Action.SNAPSHOT_CLEANUP)
        return make_plan(report, criteria, remove_children=remove_children)

    def preflight_blocking(self, plan: CleanupPlan) -> Preflight:
        """Free space for the consolidation, a task (a backup) running on the VM, host in maintenance."""
        self.services.require(Action.SNAPSHOT_CLEANUP)
        session = self.services.connection.session
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
        self.services.require(Action.SNAPSHOT_CLEANUP)
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
            self.services.scheduler.submit(_DatastoreCleanupJob(self.services, ds, group, report, say))
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
        self, services: AppServices, datastore: str, items: Sequence[PlanItem], report: CleanupReport,
        say: Listener,
    ) -> None:
        self.services = services
        self.datastore = datastore
        self.items = list(items)
        self.report = report
        self.say = say
        self.title = f"Remove {len(items)} snapshot(s) on {datastore}"
        self.resource_keys = (f"datastore:{datastore}",)

    async def run(self, ctx: JobContext) -> int:
        session = self.services.connection.session
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

    def _remove_one(self, session: Any, item: PlanItem, cancel: threading.Event) -> None:
        # The scheduler keeps this process to one removal per datastore; the OS lock does the same across
        # processes (the app and a scheduled CLI cleanup), held for the whole removal and consolidation.
        key = datastore_key(session.server, item.datastore or "-")
        home = self.services.paths.home
        with resource_lock(home, key, cancel=cancel, on_wait=f"datastore {item.datastore}"):  # noqa: SIM117
            with self.services.audited(Action.SNAPSHOT_CLEANUP, item.target, size=item.size,
                                       datastore=item.datastore, remove_children=item.remove_children):
                ops.remove_snapshot(session, item.moref, remove_children=item.remove_children, consolidate=True)
