"""Instant VM recovery as the operator uses it (GUI wizard and ``vmrestore instant ...`` alike).

The use case owns the whole rule: admin role only (checked before any vCenter call), one audit entry
per start, migrate and discard (failures included), and the jobs it hands to the scheduler.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vmrestore.app.catalog_service import CatalogService
from vmrestore.app.connection import ConnectionService
from vmrestore.app.instant.finish import DiscardInstantJob, DiscardPlan, MigrateInstantJob, plan_discard
from vmrestore.app.instant.plan import StartPlan, StartRequest, default_name, plan_start
from vmrestore.app.instant.records import InstantRecords, InstantVm
from vmrestore.app.instant.start import StartInstantJob
from vmrestore.app.ports import AuditTrail, RoleGate
from vmrestore.engine.jobcontext import JobContext
from vmrestore.model import Action, HostInfo, RestorePoint
from vmrestore.vsphere import instant_ops, inventory
from vmrestore.vsphere.placement import HostPlacement, host_placement, resolve_host


class AuditedJob:
    """Runs ``inner`` and writes one audit entry with its outcome (``ok`` or the error's code)."""

    def __init__(self, audit: AuditTrail, inner: Any, action: Action, target: str, **detail: Any) -> None:
        self._audit = audit
        self.inner = inner
        self._action = action
        self._target = target
        self._detail = detail
        self.kind: str = inner.kind
        self.title: str = inner.title
        self.resource_keys: tuple[str, ...] = inner.resource_keys

    async def run(self, ctx: JobContext) -> Any:
        with self._audit.audited(self._action, self._target, **self._detail) as extra:
            result = await self.inner.run(ctx)
            extra.update({k: v for k, v in result.to_json().items() if k in ("id", "vm", "moref", "datastore",
                                                                              "state", "unmounted", "network")})
        return result


class InstantRecovery:
    """Built once by the composition root (``app/bootstrap.py``) from the narrow ports it uses."""

    def __init__(self, connection: ConnectionService, catalog: CatalogService, records: InstantRecords,
                 gate: RoleGate, audit: AuditTrail, lock_home: Path) -> None:
        """``lock_home``: where this workstation's per-VM lock files live; a migrate or discard holds its VM's
        lock (with a shared catalog also the server's), so two processes or desks never work on one VM."""
        self._lock_home = lock_home
        self._connection = connection
        self._catalog = catalog
        self.records = records
        self._gate = gate
        self._audit = audit

    # -- start -----------------------------------------------------------------------------------
    def plan_start(self, request: StartRequest) -> StartPlan:
        """Check everything a start needs (blocking); nothing is changed. Refusals: exit 3."""
        self._gate.require(Action.INSTANT_RECOVERY)
        with self._audit.audited(Action.INSTANT_RECOVERY, request.point, step="plan", host=request.host):
            point = self._catalog.point(request.point)
            repo = self._catalog.repository(point.repo)
            return plan_start(self._connection.session, point, repo, request)

    def start_job(self, plan: StartPlan) -> AuditedJob:
        self._gate.require(Action.INSTANT_RECOVERY)
        job = StartInstantJob(self._connection, self.records, plan)
        return AuditedJob(self._audit, job, Action.INSTANT_RECOVERY, plan.point.id, name=plan.name,
                          host=plan.placement.host_name, datastore=plan.datastore.name, instant=job.instant_id)

    # -- migrate ---------------------------------------------------------------------------------
    def migrate_job(self, instant_id: str, datastore: str, connect_network: bool = False) -> AuditedJob:
        self._gate.require(Action.MIGRATE)
        job = MigrateInstantJob(self._connection, self.records, instant_id, datastore, connect_network,
                                lock_home=self._lock_home)
        return AuditedJob(self._audit, job, Action.MIGRATE, f"{instant_id} {job.record.name}",
                          datastore=datastore, connect_network=connect_network)

    # -- discard ---------------------------------------------------------------------------------
    def plan_discard(self, instant_id: str) -> DiscardPlan:
        self._gate.require(Action.INSTANT_DISCARD)
        return plan_discard(self._connection.session, self.records, instant_id)

    def discard_job(self, instant_id: str) -> AuditedJob:
        self._gate.require(Action.INSTANT_DISCARD)
        job = DiscardInstantJob(self._connection, self.records, instant_id, lock_home=self._lock_home)
        return AuditedJob(self._audit, job, Action.INSTANT_DISCARD, f"{instant_id} {job.record.name}")

    # -- what the wizard offers (blocking reads) --------------------------------------------------
    def hosts(self) -> list[HostInfo]:
        """Connected hosts, by name: where an instant VM can run."""
        return [h for h in inventory.list_hosts(self._connection.session)
                if h.connection_state == "connected" and not h.in_maintenance]

    def placement(self, host: str) -> HostPlacement:
        """The host's pool, folder, datastores (with mount mode and free space) and port groups."""
        session = self._connection.session
        return host_placement(session, resolve_host(session, host))

    def points(self) -> list[RestorePoint]:
        """Restore points newest first (the wizard marks those ESXi cannot run: hosted formats)."""
        return self._catalog.points()

    @staticmethod
    def default_name(vm: str) -> str:
        return default_name(vm)

    # -- list ------------------------------------------------------------------------------------
    def list(self, *, include_finished: bool = False, colleagues: bool = False) -> list[InstantVm]:
        """This desk's instant VMs; ``colleagues``: also other workstations' active ones (shared catalog)."""
        mine = self.records.list(active_only=not include_finished)
        return [*mine, *self.records.colleagues()] if colleagues else mine

    def live_state(self, rec: InstantVm) -> dict[str, Any]:
        """Power, Tools and IP read now (blocking; needs a connection)."""
        try:
            g = instant_ops.guest_state(self._connection.session, rec.vm)
        except Exception as exc:  # gone, or no connection: say so in the row, never fail the listing
            return {"power": "unknown", "tools": "unknown", "ip": None, "problem": str(exc)}
        return {"power": g.power, "tools": g.tools, "ip": g.ip}
