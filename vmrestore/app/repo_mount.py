"""``repo mount`` / ``repo unmount`` (admin): a repository's NFS export on a host ahead of time, read-only.

Helpdesk accounts usually lack the host privilege to mount NFS (``Host.Config.Storage``). An admin
mounts the repository once; every hot-add on that host then reuses the datastore (same remote host
and path) and needs only VM privileges. The datastore is permanent on purpose, so it is not
journaled; it is named ``vmrestore-repo-<name>`` and a mount stop never unmounts it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmrestore.app.connection import ConnectionService
from vmrestore.app.hotadd_ports import MountCatalog
from vmrestore.app.ports import AuditTrail, RoleGate
from vmrestore.errors import InvalidInput, NotFound, VmrestoreError
from vmrestore.model import Action
from vmrestore.vsphere import hotadd_checks, inventory, nas


@dataclass(frozen=True, slots=True)
class RepoMountResult:
    datastore: str
    host: str  # name
    export: str
    changed: bool  # False: it was already mounted (mount) or not mounted (unmount)


class RepoMount:
    def __init__(self, connection: ConnectionService, catalog: MountCatalog, gate: RoleGate,
                 audit: AuditTrail) -> None:
        self.connection, self.catalog, self.gate, self.audit = connection, catalog, gate, audit

    def _host(self, name: str) -> tuple[str, str]:
        hosts = inventory.list_hosts(self.connection.session)
        for h in hosts:
            if name in (h.name, h.moid):
                return h.moid, h.name
        raise NotFound(f"No host named {name!r}")

    def _export(self, repo_name: str) -> str:
        repo = self.catalog.repository(repo_name)
        if not repo.nfs:
            raise InvalidInput(f"Repository {repo.name} has no NFS export; set it with "
                               f"'vmrestore repo edit {repo.name} --nfs HOST:/EXPORT'")
        return repo.nfs

    def mount(self, repo_name: str, host_name: str) -> RepoMountResult:
        self.gate.require(Action.REPO_MOUNT)
        export = self._export(repo_name)
        with self.audit.audited(Action.REPO_MOUNT, f"{repo_name} on {host_name}", export=export) as detail:
            host, name = self._host(host_name)
            session = self.connection.session
            remote_host, remote_path = nas.split_export(export)
            existing = hotadd_checks.find_nas(session, host, remote_host, remote_path)
            if existing:
                detail.update(datastore=existing, changed=False)
                return RepoMountResult(existing, name, export, False)
            datastore = f"vmrestore-repo-{repo_name}"
            nas.mount_nas(session, host, export, datastore)
            detail.update(datastore=datastore, changed=True)
        return RepoMountResult(datastore, name, export, True)

    def unmount(self, repo_name: str, host_name: str) -> RepoMountResult:
        self.gate.require(Action.REPO_MOUNT)
        export = self._export(repo_name)
        with self.audit.audited(Action.REPO_MOUNT, f"{repo_name} on {host_name}", export=export,
                                verb="unmount") as detail:
            host, name = self._host(host_name)
            session = self.connection.session
            remote_host, remote_path = nas.split_export(export)
            existing = hotadd_checks.find_nas(session, host, remote_host, remote_path)
            if not existing:
                return RepoMountResult("", name, export, False)
            users = hotadd_checks.datastore_users(session, existing)
            if users:
                raise VmrestoreError(f"{existing} is in use by {len(users)} VM(s) (live mounts or instant VMs); "
                                     "stop them first")
            nas.unmount_nas(session, host, existing)
            detail.update(datastore=existing)
        return RepoMountResult(existing, name, export, True)
