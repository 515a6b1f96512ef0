"""The instant-recovery VMs this workstation started, kept in the state store.

A started instant VM must outlive the process that started it (the CLI exits, the GUI closes), so it
is not a journal entry: once ``start`` finished, its journal entries are released and this record is
what ``instant list``, ``migrate`` and ``stop`` work from. A crash *during* start is the journal's and
the sweep's business; a record only exists for a VM that started completely.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from vmrestore.engine.state import StateStore
from vmrestore.errors import NotFound

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

    def to_json(self) -> dict[str, Any]:
        """The ``instant list`` row of shared/CLI.md (plus a few extra keys)."""
        return {"id": self.id, "vm": self.name, "state": self.state, "host": self.host_name,
                "datastore": self.datastore, "point": self.point, "started": self.started.isoformat(),
                "moref": self.vm, "backup_datastore": self.backup_datastore, "network": self.network,
                "updated": self.updated.isoformat()}


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

    def __init__(self, state: StateStore) -> None:
        self._state = state

    def add(self, vm: InstantVm) -> None:
        self._state.execute(
            "INSERT INTO instant_vms (id, name, vm, point, host, host_name, datastore, backup_datastore,"
            " mounted_by_us, network, state, started, updated, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (vm.id, vm.name, vm.vm, vm.point, vm.host, vm.host_name, vm.datastore, vm.backup_datastore,
             int(vm.mounted_by_us), vm.network, vm.state, vm.started.isoformat(), vm.updated.isoformat(),
             json.dumps(vm.detail, sort_keys=True)),
        )

    def get(self, instant_id: str) -> InstantVm:
        rows = self._state.query("SELECT * FROM instant_vms WHERE id = ?", (instant_id,))
        if not rows:
            raise NotFound(f"No instant recovery with id {instant_id!r}; see 'vmrestore instant list'")
        return _row(rows[0])

    def list(self, *, active_only: bool = True) -> list[InstantVm]:
        if active_only:
            marks = ",".join("?" for _ in ACTIVE_STATES)
            rows = self._state.query(
                f"SELECT * FROM instant_vms WHERE state IN ({marks}) ORDER BY started", ACTIVE_STATES)
        else:
            rows = self._state.query("SELECT * FROM instant_vms ORDER BY started")
        return [_row(r) for r in rows]

    def update(self, instant_id: str, **changes: Any) -> InstantVm:
        current = self.get(instant_id)
        new = replace(current, updated=datetime.now(UTC), **changes)
        self._state.execute(
            "UPDATE instant_vms SET datastore = ?, state = ?, network = ?, updated = ?, detail = ? WHERE id = ?",
            (new.datastore, new.state, new.network, new.updated.isoformat(), json.dumps(new.detail, sort_keys=True),
             instant_id),
        )
        return new

    def others_using(self, host: str, backup_datastore: str, but: str) -> builtins.list[InstantVm]:
        """Active instant VMs other than ``but`` that still need the backup mounted on ``host``."""
        return [r for r in self.list() if r.id != but and r.host == host and r.backup_datastore == backup_datastore
                and r.state in (RUNNING, MIGRATING, DISCARDING)]

    def mounted_by_us(self, host: str, backup_datastore: str) -> bool:
        """Whether an instant recovery of ours mounted this datastore on the host (then we may unmount it)."""
        return any(r.mounted_by_us for r in self.list(active_only=False)
                   if r.host == host and r.backup_datastore == backup_datastore)
