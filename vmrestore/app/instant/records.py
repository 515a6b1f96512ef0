"""The instant-recovery VMs this workstation started, kept in the state store.

A started instant VM must outlive the process that started it (the CLI exits, the GUI closes), so it
is not a journal entry: once ``start`` finished, its journal entries are released and this record is
what ``instant list``, ``migrate`` and ``stop`` work from. A crash *during* start is the journal's and
the sweep's business; a record only exists for a VM that started completely.

With a shared catalog every record is also copied to the server (``desk_instant``, best effort, like
leases): ``instant list --all`` on a colleague's desk shows it with its creator, and a discard or migrate on
any desk counts the colleagues' instant VMs that still use a backup datastore before unmounting it.
"""

from __future__ import annotations

import builtins
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from vmrestore.engine.heartbeat import OwnerInfo
from vmrestore.engine.journal import Journal
from vmrestore.engine.state import StateStore
from vmrestore.errors import NotFound, Transient

log = logging.getLogger(__name__)

RUNNING = "running"  # runs from the backup (its disks are deltas over the NFS datastore)
MIGRATING = "migrating"
MIGRATED = "migrated"  # now an ordinary VM on production storage
DISCARDING = "discarding"
DISCARDED = "discarded"

ACTIVE_STATES = (RUNNING, MIGRATING, DISCARDING)


@dataclass(frozen=True, slots=True)
class InstantVm:
    id: str  # "ir-" + 8 hex
    name: str  # the new VM's name
    vm: str  # its moid
    point: str  # the restore point it runs from
    host: str  # host moid
    host_name: str
    datastore: str  # the writable datastore holding its files and deltas (after migrate: the target)
    backup_datastore: str  # the NFS datastore name the backup is mounted as
    mounted_by_us: bool  # we mounted the export (and may unmount it); False when an existing mount was reused
    network: str  # "isolated" or the port group name
    state: str
    started: datetime
    updated: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    #: The process that started it (from the owners table, or the shared catalog's for a colleague's VM).
    creator: OwnerInfo | None = None
    #: Another workstation's record, read from the shared catalog (not in this desk's state store).
    colleague: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``instant list`` row of shared/CLI.md (plus a few extra keys)."""
        return {"id": self.id, "vm": self.name, "state": self.state, "host": self.host_name,
                "datastore": self.datastore, "point": self.point, "started": self.started.isoformat(),
                "moref": self.vm, "backup_datastore": self.backup_datastore, "network": self.network,
                "updated": self.updated.isoformat(),
                "workstation": self.creator.workstation if self.creator else None,
                "owner": self.creator.as_dict() if self.creator else None, "colleague": self.colleague}

    def shared_copy(self) -> dict[str, Any]:
        """What the shared catalog keeps of it (everything :func:`from_shared` needs)."""
        return {"id": self.id, "name": self.name, "vm": self.vm, "point": self.point, "host": self.host,
                "host_name": self.host_name, "datastore": self.datastore, "backup_datastore": self.backup_datastore,
                "mounted_by_us": self.mounted_by_us, "network": self.network, "state": self.state,
                "started": self.started.isoformat(), "updated": self.updated.isoformat(), "detail": self.detail}


def from_shared(data: dict[str, Any], creator: OwnerInfo | None) -> InstantVm:
    """A colleague's record from its shared copy."""
    return InstantVm(
        id=str(data["id"]), name=str(data["name"]), vm=str(data["vm"]), point=str(data["point"]),
        host=str(data["host"]), host_name=str(data["host_name"]), datastore=str(data["datastore"]),
        backup_datastore=str(data["backup_datastore"]), mounted_by_us=bool(data["mounted_by_us"]),
        network=str(data["network"]), state=str(data["state"]), started=datetime.fromisoformat(data["started"]),
        updated=datetime.fromisoformat(data["updated"]), detail=dict(data.get("detail") or {}), creator=creator,
        colleague=True)


def _row(row: Any) -> InstantVm:
    return InstantVm(
        id=row["id"], name=row["name"], vm=row["vm"], point=row["point"], host=row["host"],
        host_name=row["host_name"], datastore=row["datastore"], backup_datastore=row["backup_datastore"],
        mounted_by_us=bool(row["mounted_by_us"]), network=row["network"], state=row["state"],
        started=datetime.fromisoformat(row["started"]), updated=datetime.fromisoformat(row["updated"]),
        detail=json.loads(row["detail"] or "{}"),
    )


class InstantRecords:
    """CRUD over ``instant_vms``; synchronous (called through executors by jobs and the GUI)."""

    def __init__(self, state: StateStore, journal: Journal | None = None) -> None:
        """``journal``: its owner is the records' creator, its mirror (a shared catalog) gets their copies."""
        self._state = state
        self._journal = journal

    def _share(self, vm: InstantVm, *, strict: bool = False) -> None:
        """Copy a record to the shared catalog: colleagues' lists and unmount checks. Best effort (logged) for
        this desk's records; ``strict`` for a colleague's, whose only copy it is."""
        journal = self._journal
        if journal is None or journal.mirror is None:
            return
        try:
            journal.mirror.record_instant(journal.origin, vm.id, vm.state, str(vm.detail.get("creator") or ""),
                                          vm.shared_copy())
        except Exception:
            if strict:
                raise
            log.warning("instant VM %s: the shared copy was not updated", vm.id, exc_info=True)

    def _shared(self, instant_id: str) -> InstantVm | None:
        """The server's copy of a record (any desk's), ``None`` without a shared catalog or such a record."""
        journal = self._journal
        if journal is None or journal.mirror is None:
            return None
        found = journal.mirror.instants(record_id=instant_id)
        return from_shared(found[0].data, found[0].creator) if found else None

    def _settled(self, vm: InstantVm) -> InstantVm:
        """This desk's active record, brought up to date when another desk's sweep finished its discard or
        migrate (this desk's process died during it): the server's copy then says discarded or migrated."""
        if vm.state not in ACTIVE_STATES:
            return vm
        try:
            shared = self._shared(vm.id)
        except Transient:
            return vm
        if shared is None or shared.state in ACTIVE_STATES or shared.updated <= vm.updated:
            return vm
        self._state.execute(
            "UPDATE instant_vms SET datastore = ?, state = ?, network = ?, updated = ?, detail = ? WHERE id = ?",
            (shared.datastore, shared.state, shared.network, shared.updated.isoformat(),
             json.dumps(shared.detail, sort_keys=True), vm.id))
        log.info("instant VM %s was finished by another workstation's sweep: now %s", vm.id, shared.state)
        return replace(vm, datastore=shared.datastore, state=shared.state, network=shared.network,
                       updated=shared.updated, detail=shared.detail)

    def colleagues(self) -> builtins.list[InstantVm]:
        """Other workstations' active instant VMs on the shared catalog (none without one).

        Raises ``Transient`` when the server cannot be read: a caller deciding to unmount must then not.
        """
        journal = self._journal
        if journal is None or journal.mirror is None:
            return []
        return [from_shared(r.data, r.creator) for r in journal.mirror.instants(exclude_origin=journal.origin)
                if r.state in ACTIVE_STATES]

    def add(self, vm: InstantVm) -> None:
        if self._journal is not None and "creator" not in vm.detail:
            vm = replace(vm, detail={**vm.detail, "creator": self._journal.owner.token})
        self._state.execute(
            "INSERT INTO instant_vms (id, name, vm, point, host, host_name, datastore, backup_datastore,"
            " mounted_by_us, network, state, started, updated, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (vm.id, vm.name, vm.vm, vm.point, vm.host, vm.host_name, vm.datastore, vm.backup_datastore,
             int(vm.mounted_by_us), vm.network, vm.state, vm.started.isoformat(), vm.updated.isoformat(),
             json.dumps(vm.detail, sort_keys=True)),
        )
        self._share(vm)

    def get(self, instant_id: str, *, any_desk: bool = False) -> InstantVm:
        """This desk's record; with ``any_desk`` and a shared catalog also another desk's (a sweep finishing its
        discard or migrate after that desk died: ``colleague`` is set, and :meth:`update` writes only the
        server's copy). An operator's own ``instant stop``/``migrate`` acts on this desk's records only."""
        rows = self._state.query("SELECT * FROM instant_vms WHERE id = ?", (instant_id,))
        if rows:
            return self._settled(self._creator(_row(rows[0])))
        shared = self._shared(instant_id) if any_desk else None
        if shared is None:
            raise NotFound(f"No instant recovery with id {instant_id!r}; see 'vmrestore instant list'")
        return shared

    def _creator(self, vm: InstantVm) -> InstantVm:
        token = vm.detail.get("creator")
        if self._journal is None or not token:
            return vm
        return replace(vm, creator=self._journal.owners.get(str(token)))

    def list(self, *, active_only: bool = True) -> list[InstantVm]:
        if active_only:
            marks = ",".join("?" for _ in ACTIVE_STATES)
            rows = self._state.query(
                f"SELECT * FROM instant_vms WHERE state IN ({marks}) ORDER BY started", ACTIVE_STATES)
        else:
            rows = self._state.query("SELECT * FROM instant_vms ORDER BY started")
        records = [self._settled(self._creator(_row(r))) for r in rows]
        return [r for r in records if r.state in ACTIVE_STATES] if active_only else records

    def update(self, instant_id: str, **changes: Any) -> InstantVm:
        current = self.get(instant_id, any_desk=True)
        new = replace(current, updated=datetime.now(UTC), **changes)
        if current.colleague:
            self._share(new, strict=True)
            return new
        self._state.execute(
            "UPDATE instant_vms SET datastore = ?, state = ?, network = ?, updated = ?, detail = ? WHERE id = ?",
            (new.datastore, new.state, new.network, new.updated.isoformat(), json.dumps(new.detail, sort_keys=True),
             instant_id),
        )
        self._share(new)
        return new

    def others_using(self, host: str, backup_datastore: str, but: str) -> builtins.list[InstantVm]:
        """Active instant VMs other than ``but`` that still need the backup mounted on ``host``: this desk's
        and, with a shared catalog, every colleague's (a server that cannot be read raises ``Transient``)."""
        mine = self.list()
        return [r for r in [*mine, *self.colleagues()] if r.id != but and r.host == host
                and r.backup_datastore == backup_datastore and r.state in (RUNNING, MIGRATING, DISCARDING)]

    def mounted_by_us(self, host: str, backup_datastore: str) -> bool:
        """Whether an instant recovery of vmrestore mounted this datastore on the host (then the last one out
        may unmount it): one of this desk's, or with a shared catalog a colleague's. A datastore that was
        there before (an admin's ``repo mount``, anything made outside vmrestore) is reused, never unmounted;
        so is one the shared catalog cannot vouch for when its server cannot be read."""
        if any(r.mounted_by_us for r in self.list(active_only=False)
               if r.host == host and r.backup_datastore == backup_datastore):
            return True
        journal = self._journal
        if journal is None or journal.mirror is None:
            return False
        try:
            shared = journal.mirror.instants()
        except Transient:
            log.warning("the shared catalog cannot say who mounted %s; left mounted", backup_datastore)
            return False
        return any(r.data.get("mounted_by_us") and r.data.get("host") == host
                   and r.data.get("backup_datastore") == backup_datastore for r in shared)
