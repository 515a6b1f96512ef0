"""The composition root: builds every service once and hands them down.

No global registries or singletons: the GUI and the CLI each call ``build_services()`` and pass the
result along. Everything here is Qt-free, so ``vmrestore sweep`` runs headless with the same wiring.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from vmrestore.app.catalog_service import CatalogService
from vmrestore.app.connection import ConnectionService
from vmrestore.app.paths import AppPaths, machine_policy_file, resolve_paths
from vmrestore.app.repositories import RepositoryAdmin
from vmrestore.app.restore import FileRestore
from vmrestore.app.secrets import KeyringSecretStore, SecretStore
from vmrestore.app.settings import AppSettings, load_settings
from vmrestore.app.settings_edit import CertificatePins, SettingsEditor
from vmrestore.app.undo import build_undo_handlers
from vmrestore.catalog import open_store
from vmrestore.engine import policy
from vmrestore.engine.audit import AuditLog
from vmrestore.engine.jobs import Scheduler
from vmrestore.engine.journal import Journal
from vmrestore.engine.leases import LeaseStore
from vmrestore.engine.owner import ProcessOwner
from vmrestore.engine.state import StateStore
from vmrestore.engine.sweep import Sweeper, SweepResult
from vmrestore.model import Action
from vmrestore.vsphere.trust import KnownHosts

if TYPE_CHECKING:
    from vmrestore.app.snapshots.cleanup import CleanupSnapshots
    from vmrestore.app.snapshots.orphans import OrphanFiles
    from vmrestore.app.snapshots.quarantine import OrphanQuarantine
    from vmrestore.app.snapshots.scan import ScanSnapshots

log = logging.getLogger(__name__)

# At most one heavy operation per datastore and per restore point at a time (STYLE.md).
RESOURCE_LIMITS = {"datastore": 1, "point": 1, "vm": 1}


@dataclass
class AppServices:
    paths: AppPaths
    settings: AppSettings
    state: StateStore
    owner: ProcessOwner
    journal: Journal
    scheduler: Scheduler
    audit: AuditLog
    connection: ConnectionService
    secrets: SecretStore
    catalog: CatalogService
    extras: dict[str, Any] = field(default_factory=dict)
    restore: FileRestore = field(init=False)
    repositories: RepositoryAdmin = field(init=False)
    settings_editor: SettingsEditor = field(init=False)
    certificates: CertificatePins = field(init=False)

    def __post_init__(self) -> None:
        # Built once here: the GUI and the CLI call the same instances (role gate, audit, jobs).
        self.restore = FileRestore(self.catalog, self, self, self.scheduler)
        self.repositories = RepositoryAdmin(self.catalog, self, self)
        self.settings_editor = SettingsEditor(self.settings, self, self)
        self.certificates = CertificatePins(self.connection, self, self)

    @cached_property
    def snapshots(self) -> SnapshotUseCases:
        """Built once, here, on first use: the snapshot stack's imports cost a command that never needs it."""
        return _snapshot_use_cases(self)

    # -- policy and audit ------------------------------------------------------------------------
    def require(self, action: Action) -> None:
        """Refuse an action the operator's vmrestore role does not allow (exit code 3 / dialog)."""
        policy.require(self.settings.role, action)

    @contextmanager
    def audited(self, action: Action, target: str, **detail: Any) -> Iterator[dict[str, Any]]:
        """Write one audit entry for the action: its result is ``ok`` or the error's code.

        The yielded dict may be filled by the caller with details of the outcome (counts, bytes).
        """
        extra: dict[str, Any] = dict(detail)
        identity = self.connection.identity
        try:
            yield extra
        except BaseException as exc:
            code = getattr(exc, "code", type(exc).__name__)
            self.audit.append(action=str(action), target=target, result=f"failed:{code}",
                              role=str(self.settings.role),
                              vcenter_user=identity.user if identity else None, detail=extra)
            raise
        identity = self.connection.identity or identity
        self.audit.append(action=str(action), target=target, result="ok", role=str(self.settings.role),
                          vcenter_user=identity.user if identity else None, detail=extra)

    @property
    def leases(self) -> LeaseStore:
        """Mounts (and other temporary objects) kept on purpose past this process (engine/leases.py)."""
        store = self.extras.get("leases")
        if store is None:
            store = self.extras["leases"] = LeaseStore(self.state)
        return store

    # -- crash recovery --------------------------------------------------------------------------
    def sweeper(self) -> Sweeper:
        return Sweeper(self.journal, build_undo_handlers(self.connection))

    def sweep_blocking(self) -> SweepResult:
        """Undo what a dead vmrestore process left behind (journal entries of dead owners)."""
        sweeper = self.sweeper()
        found = sweeper.find()
        if not found:
            self.leases.settle(self.journal)
            return SweepResult(found=[], undone=[], failed=[])
        with self.audited(Action.SWEEP, f"{len(found)} journal entries") as detail:
            result = sweeper.sweep()
            detail.update(undone=len(result.undone), failed=len(result.failed))
        self.leases.settle(self.journal)  # a stop that crashed: its objects are gone now, close its lease
        return result

    async def sweep(self) -> SweepResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.sweep_blocking)

    async def aclose(self) -> None:
        await self.scheduler.shutdown()
        await self.connection.disconnect()
        self.close()

    def close(self) -> None:
        self.connection.close_blocking()
        self.owner.close()
        self.catalog.store.close()
        self.state.close()


def catalog_location(paths: AppPaths, settings: AppSettings) -> str:
    """``VMRESTORE_CATALOG`` wins (scripts, tests), then Settings › Catalog, then the data folder's file."""
    return os.environ.get("VMRESTORE_CATALOG") or settings.catalog_location or str(paths.home / "catalog.sqlite")


@dataclass(frozen=True, slots=True)
class SnapshotUseCases:
    """The snapshot monitor's use cases, one instance each: the GUI and the CLI call these."""

    scan: ScanSnapshots
    cleanup: CleanupSnapshots
    orphans: OrphanFiles
    quarantine: OrphanQuarantine


def _snapshot_use_cases(services: AppServices) -> SnapshotUseCases:
    """Each use case gets the narrow ports it uses (``app.ports``); ``services`` is the role gate and the
    audit trail."""
    from vmrestore.app.snapshots.cleanup import CleanupSnapshots
    from vmrestore.app.snapshots.orphans import OrphanFiles
    from vmrestore.app.snapshots.quarantine import OrphanQuarantine
    from vmrestore.app.snapshots.scan import ScanSnapshots

    scan = ScanSnapshots(services.connection, services, services.settings)
    cleanup = CleanupSnapshots(services.connection, services, services, services.scheduler, services.settings,
                               services.paths.home, scan)
    orphans = OrphanFiles(services.connection, services, services, services.journal, services.paths.home, scan)
    quarantine = OrphanQuarantine(services.connection, services, services, services.journal, services.paths.home)
    return SnapshotUseCases(scan=scan, cleanup=cleanup, orphans=orphans, quarantine=quarantine)


def build_services(home: str | None = None, *, secrets: SecretStore | None = None) -> AppServices:
    """Wire the app: state store, journal, scheduler, audit log, connection."""
    paths = resolve_paths(home)
    settings = load_settings(paths.settings_file, machine_policy_file())
    state = StateStore(paths.state_db)
    owner = ProcessOwner(paths.home)
    journal = Journal(state, owner)
    secret_store = secrets if secrets is not None else KeyringSecretStore()
    connection = ConnectionService(KnownHosts(str(paths.known_hosts)), secret_store)
    # The scheduler's safety net: whatever a finished job left open is undone right away.
    scheduler = Scheduler(state, journal, RESOURCE_LIMITS,
                          sweeper=Sweeper(journal, build_undo_handlers(connection)))
    audit = AuditLog(paths.audit_log, head_store=state)
    location = catalog_location(paths, settings)
    catalog = CatalogService(open_store(location), location)
    return AppServices(paths=paths, settings=settings, state=state, owner=owner, journal=journal,
                       scheduler=scheduler, audit=audit, connection=connection, secrets=secret_store,
                       catalog=catalog)
