"""The composition root: builds every service once and hands them down.

No global registries or singletons: the GUI and the CLI each call ``build_services()`` and pass the
result along. Everything here is Qt-free, so ``vmrestore sweep`` runs headless with the same wiring.
"""

from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from vmrestore.app.catalog_secret import connect_url, stored_password
from vmrestore.app.catalog_service import CatalogService
from vmrestore.app.connection import ConnectionService
from vmrestore.app.governance import Auditor, SettingsRoleGate
from vmrestore.app.paths import AppPaths, machine_policy_file, resolve_paths
from vmrestore.app.secrets import KeyringSecretStore, SecretStore
from vmrestore.app.settings import AppSettings, load_settings
from vmrestore.app.undo import build_undo_handlers
from vmrestore.catalog import CatalogStore, display_url, is_server_url, open_store, server_key, url_user, with_password
from vmrestore.engine import resourcelock
from vmrestore.engine.audit import AuditLog, AuditStore
from vmrestore.engine.heartbeat import Heartbeat, owner_grace
from vmrestore.engine.journal import Journal
from vmrestore.engine.owner import ProcessOwner
from vmrestore.engine.state import StateStore
from vmrestore.engine.sweep import Sweeper, SweepResult
from vmrestore.errors import CatalogPasswordRequired
from vmrestore.model import Action, ResourceKind
from vmrestore.vsphere.trust import KnownHosts

if TYPE_CHECKING:
    from vmrestore.app.catalog_migrate import MigrateCatalog
    from vmrestore.app.catalog_test import TestCatalogConnection
    from vmrestore.app.instant.service import InstantRecovery
    from vmrestore.app.repositories import RepositoryAdmin
    from vmrestore.app.restore import FileRestore
    from vmrestore.app.settings_edit import CertificatePins, SettingsEditor
    from vmrestore.app.snapshots.cleanup import CleanupSnapshots
    from vmrestore.app.snapshots.orphans import OrphanFiles
    from vmrestore.app.snapshots.quarantine import OrphanQuarantine
    from vmrestore.app.snapshots.scan import ScanSnapshots
    from vmrestore.engine.jobs import Scheduler
    from vmrestore.engine.leases import LeaseStore

log = logging.getLogger(__name__)

# At most one heavy operation per datastore and per restore point at a time (STYLE.md).
RESOURCE_LIMITS: dict[str, int] = {ResourceKind.DATASTORE: 1, ResourceKind.POINT: 1, ResourceKind.VM: 1}


@dataclass
class AppServices:
    paths: AppPaths
    settings: AppSettings
    state: StateStore
    owner: ProcessOwner
    journal: Journal
    audit: AuditStore
    connection: ConnectionService
    secrets: SecretStore
    catalog: CatalogService
    extras: dict[str, Any] = field(default_factory=dict)
    heartbeat: Heartbeat | None = None
    # The narrow ports use cases receive (app.ports): built from the fields above, once.
    gate: SettingsRoleGate = field(init=False)
    auditor: Auditor = field(init=False)

    def __post_init__(self) -> None:
        self.gate = SettingsRoleGate(self.settings)
        self.auditor = Auditor(self.audit, self.settings, self.connection)

    # The use cases: built once, on first use, each importing its module then. The GUI and the CLI call the
    # same instances (role gate, audit, jobs); a CLI command loads only the ones it calls, which is most of
    # a read-only command's start-up time otherwise (``points list``, issue 13 §6).

    @cached_property
    def scheduler(self) -> Scheduler:
        """The job engine, built on first use: its asyncio and process pool cost every read-only command
        (``points list``) start-up time it never needs (issue 13 §6)."""
        from vmrestore.engine.jobs import Scheduler

        # The scheduler's safety net: whatever a finished job left open is undone right away.
        return Scheduler(self.state, self.journal, RESOURCE_LIMITS, sweeper=self.sweeper())

    @cached_property
    def restore(self) -> FileRestore:
        """Restore to this computer and indexing (builds the scheduler, see ``scheduler``)."""
        from vmrestore.app.restore import FileRestore

        return FileRestore(self.catalog, self.gate, self.auditor, self.scheduler)

    @cached_property
    def repositories(self) -> RepositoryAdmin:
        from vmrestore.app.repositories import RepositoryAdmin

        return RepositoryAdmin(self.catalog, self.gate, self.auditor)

    @cached_property
    def settings_editor(self) -> SettingsEditor:
        from vmrestore.app.settings_edit import SettingsEditor

        return SettingsEditor(self.settings, self.gate, self.auditor, self.secrets)

    @cached_property
    def certificates(self) -> CertificatePins:
        from vmrestore.app.settings_edit import CertificatePins

        return CertificatePins(self.connection, self.gate, self.auditor)

    @cached_property
    def catalog_migration(self) -> MigrateCatalog:
        from vmrestore.app.catalog_migrate import MigrateCatalog

        return MigrateCatalog(self.gate, self.auditor, self.catalog.location)

    @cached_property
    def catalog_test(self) -> TestCatalogConnection:
        from vmrestore.app.catalog_test import TestCatalogConnection

        return TestCatalogConnection(self.secrets)

    @cached_property
    def snapshots(self) -> SnapshotUseCases:
        """Built once, here, on first use: the snapshot stack's imports cost a command that never needs it."""
        return _snapshot_use_cases(self)

    @cached_property
    def instant(self) -> InstantRecovery:
        """Instant VM recovery's use case, built once on first use (GUI and CLI share it)."""
        from vmrestore.app.instant.records import InstantRecords
        from vmrestore.app.instant.service import InstantRecovery

        return InstantRecovery(self.connection, self.catalog, InstantRecords(self.state, self.journal), self.gate,
                               self.auditor, self.paths.home)

    # -- policy and audit (the same objects the use cases get) ---------------------------------------
    def require(self, action: Action) -> None:
        """Refuse an action the operator's vmrestore role does not allow (exit code 3 / dialog)."""
        self.gate.require(action)

    def audited(self, action: Action, target: str, **detail: Any) -> AbstractContextManager[dict[str, Any]]:
        """One audit entry for the block (``Auditor.audited``)."""
        return self.auditor.audited(action, target, **detail)

    @property
    def leases(self) -> LeaseStore:
        """Mounts (and other temporary objects) kept on purpose past this process (engine/leases.py)."""
        store = self.extras.get("leases")
        if store is None:
            from vmrestore.engine.leases import LeaseStore  # only commands that mount or settle load it

            store = self.extras["leases"] = LeaseStore(self.state, self.journal)
        return store

    # -- crash recovery --------------------------------------------------------------------------
    def sweeper(self) -> Sweeper:
        return Sweeper(self.journal, build_undo_handlers(self.connection, self.state, self.journal))

    def sweep_blocking(self) -> SweepResult:
        """Undo what a dead vmrestore process left behind (journal entries of dead owners), then forget the
        owners that died long ago and own nothing any more (``owner_grace``)."""
        sweeper = self.sweeper()
        found = sweeper.find()
        if not found:
            self.leases.settle(self.journal)
            return SweepResult(found=[], undone=[], failed=[], owners_pruned=self._prune_owners())
        with self.audited(Action.SWEEP, f"{len(found)} journal entries") as detail:
            result = sweeper.sweep()
            detail.update(undone=len(result.undone), failed=len(result.failed))
        self.leases.settle(self.journal)  # a stop that crashed: its objects are gone now, close its lease
        result.owners_pruned = self._prune_owners()
        return result

    def _prune_owners(self) -> int:
        try:
            return self.journal.prune_owners(owner_grace())
        except Exception:  # housekeeping: never the reason a sweep fails
            log.warning("pruning dead owners failed", exc_info=True)
            return 0

    async def sweep(self) -> SweepResult:
        import asyncio  # here: the CLI's commands never await this (start-up time, issue 13 §6)

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.sweep_blocking)

    async def aclose(self) -> None:
        if "scheduler" in self.__dict__:  # never built: nothing ran, nothing to shut down
            await self.scheduler.shutdown()
        await self.connection.disconnect()
        self.close()

    def close(self) -> None:
        self.connection.close_blocking()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        resourcelock.use_shared_locks(None)
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

    scan = ScanSnapshots(services.connection, services.gate, services.settings)
    cleanup = CleanupSnapshots(services.connection, services.gate, services.auditor, services.scheduler,
                               services.settings, services.paths.home, scan)
    orphans = OrphanFiles(services.connection, services.gate, services.auditor, services.journal,
                          services.paths.home, scan)
    quarantine = OrphanQuarantine(services.connection, services.gate, services.auditor, services.journal,
                                  services.paths.home)
    return SnapshotUseCases(scan=scan, cleanup=cleanup, orphans=orphans, quarantine=quarantine)


def build_services(home: str | None = None, *, secrets: SecretStore | None = None) -> AppServices:
    """Wire the app: state store, journal, scheduler, audit log, connection.

    A shared catalog whose server wants a password that neither the URL nor the keyring has raises
    :class:`CatalogPasswordRequired` before anything else is opened, with ``supply`` set: the front end asks
    the operator (GUI dialog; CLI ``VMRESTORE_CATALOG_PASSWORD`` or a prompt), supplies the answer, which
    ``secrets`` keeps for this process only, and calls this again with the same ``secrets``.
    """
    paths = resolve_paths(home)
    settings = load_settings(paths.settings_file, machine_policy_file())
    secret_store = secrets if secrets is not None else KeyringSecretStore()
    location = catalog_location(paths, settings)
    password = stored_password(location, secret_store)  # the keyring's (or this session's), when the URL has none
    store = _open_catalog(location, password, secret_store)
    try:
        return _wire(paths, settings, secret_store, location, password, store)
    except BaseException:
        store.close()
        raise


def _open_catalog(location: str, password: str | None, secret_store: SecretStore) -> CatalogStore:
    try:
        return open_store(location, password)
    except CatalogPasswordRequired as exc:
        server, user = str(server_key(location)), url_user(location)
        exc.where = display_url(location)

        def supply(typed: str) -> None:
            secret_store.remember(server, user, typed)

        exc.supply = supply
        raise


def _wire(paths: AppPaths, settings: AppSettings, secret_store: SecretStore, location: str, password: str | None,
          store: CatalogStore) -> AppServices:
    state = StateStore(paths.state_db)
    owner = ProcessOwner(paths.home)
    journal = Journal(state, owner)
    connection = ConnectionService(KnownHosts(str(paths.known_hosts)), secret_store)
    # A shared (PostgreSQL) catalog keeps the audit log on its server, where an operator cannot rewrite it.
    audit: AuditStore
    if is_server_url(location):
        from vmrestore.engine.audit_pg import PgAuditLog  # psycopg loads only for a shared catalog

        server_url = connect_url(location, secret_store)
        audit = PgAuditLog(server_url)
        from vmrestore.catalog.pg_locks import PgResourceLocks

        # Cleanup per datastore and mount per VM are serialised across workstations too (their homes, so
        # OS locks, differ); a desk refused a lock is told who holds it (this process's owner token).
        resourcelock.use_shared_locks(PgResourceLocks(server_url, owner.token))
    else:
        audit = AuditLog(paths.audit_log, head_store=state)
    catalog = CatalogService(store, location, connect_url=with_password(location, password))
    if is_server_url(location):  # after open_store: its migrations made the shared journal's tables
        from vmrestore.engine.shared_pg import PgSharedJournal

        # Entries of shared (vCenter) objects are also on the server: another desk's sweep sees them, and
        # undoes them only once this process stopped beating.
        journal.use_mirror(PgSharedJournal(connect_url(location, secret_store)))
    # While this process runs, its journal entries and leases show a fresh heartbeat (engine.heartbeat).
    return AppServices(paths=paths, settings=settings, state=state, owner=owner, journal=journal,
                       audit=audit, connection=connection, secrets=secret_store,
                       catalog=catalog,
                       heartbeat=Heartbeat(journal.owners, owner,
                                           also=[journal.mirror.beat] if journal.mirror else []).start())
