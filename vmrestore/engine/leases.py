"""Leases: temporary vSphere objects kept *on purpose* after the process that made them exits.

A hot-added backup disk must outlive ``vmrestore mount start`` (the operator copies files for an hour),
so it cannot stay a pending journal entry: the next start's sweep would remove it. When the mount is
complete, its journal entries are handed over to a lease in the same transaction (:meth:`adopt`): the
objects are then owned by the lease and its expiry, not by a process. Stopping a lease journals the
objects again before removing them, so a crash mid-stop is finished by the ordinary sweep.

States: ``active`` (in use until ``expires``), ``stopping`` (a stop began; ``owner`` is the process
doing it), ``stopped``. The table lives in the state store and is Qt- and vSphere-free: a lease is
a kind, a few strings and a JSON ``data`` dict with what the feature needs to find its objects again.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vmrestore.engine.heartbeat import OwnerInfo, owner_columns, owner_info_from
from vmrestore.engine.journal import DONE, OPEN_STATES, Journal
from vmrestore.engine.state import StateStore
from vmrestore.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

ACTIVE = "active"
STOPPING = "stopping"
STOPPED = "stopped"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    user TEXT NOT NULL,
    workstation TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    updated TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL
)
"""
# Added with the owners table: the process that created the lease (its journal entries' owner).
_CREATOR = "ALTER TABLE leases ADD COLUMN creator TEXT NOT NULL DEFAULT ''"
_SELECT = (f"SELECT leases.*, {owner_columns('owners', 'c_')} FROM leases"
           " LEFT JOIN owners ON owners.token = leases.creator")


@dataclass(frozen=True)
class Lease:
    id: str
    kind: str
    state: str
    user: str
    workstation: str
    created: datetime
    expires: datetime
    owner: str
    data: dict[str, Any]
    #: The process that created the lease (workstation, OS user, pid, start, heartbeat), if known.
    creator: OwnerInfo | None = None

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expires


def new_lease_id(prefix: str = "m") -> str:
    """A short id an operator can type: ``m-3f9a1c2b``."""
    return f"{prefix}-{secrets.token_hex(4)}"


def workstation_name() -> str:
    return socket.gethostname() or "workstation"


def _row(row: Any) -> Lease:
    return Lease(id=row["id"], kind=row["kind"], state=row["state"], user=row["user"],
                 workstation=row["workstation"], created=datetime.fromisoformat(row["created"]),
                 expires=datetime.fromisoformat(row["expires"]), owner=row["owner"], data=json.loads(row["data"]),
                 creator=owner_info_from(row, "c_"))


class LeaseStore:
    """The ``leases`` table of the state store (created on first use)."""

    def __init__(self, state: StateStore, journal: Journal | None = None) -> None:
        """``journal``: whose shared copy (a shared catalog) hears that a lease took entries over."""
        self.state = state
        self.journal = journal
        with state.transaction() as conn:
            conn.execute(_SCHEMA)
            if "creator" not in {r["name"] for r in conn.execute("PRAGMA table_info(leases)")}:
                conn.execute(_CREATOR)

    def adopt(self, lease_id: str, kind: str, user: str, ttl: timedelta, data: Mapping[str, Any],
              journal_entries: Iterable[int]) -> Lease:
        """Create an active lease and release ``journal_entries`` to it, atomically.

        A crash before the commit leaves the entries pending (the sweep removes the objects); after
        it, the lease owns them. There is no moment when nobody does.
        """
        now = datetime.now(UTC)
        ids = list(journal_entries)
        with self.state.transaction() as conn:
            # The creator is the process that journalled the objects (the one adopting them).
            first = conn.execute("SELECT owner FROM journal WHERE id = ?", ids[:1]).fetchone() if ids else None
            conn.execute(
                "INSERT INTO leases (id, kind, state, user, workstation, created, expires, updated, data, creator)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (lease_id, kind, ACTIVE, user, workstation_name(), now.isoformat(), (now + ttl).isoformat(),
                 now.isoformat(), json.dumps(dict(data), sort_keys=True), first["owner"] if first else ""),
            )
            for entry_id in ids:
                changed = conn.execute(
                    f"UPDATE journal SET state = ?, updated = ? WHERE id = ? AND state IN "
                    f"({', '.join('?' for _ in OPEN_STATES)})",
                    (DONE, now.isoformat(), entry_id, *OPEN_STATES),
                ).rowcount
                if changed != 1:
                    raise NotFound(f"journal entry {entry_id} is not open; cannot hand it to a lease")
        if self.journal is not None:
            for entry_id in ids:
                self.journal.sync(entry_id)  # other desks' sweeps must not take a leased mount for a crash
        self._share(lease_id)
        return self.get(lease_id)

    def _share(self, lease_id: str) -> None:
        """Copy a lease to the shared catalog's server (best effort): colleagues see it in ``--all``."""
        mirror = self.journal.mirror if self.journal is not None else None
        if mirror is None or self.journal is None:
            return
        try:
            mirror.record_lease(self.journal.origin, self.get(lease_id))
        except Exception:
            log.warning("lease %s: the shared copy was not updated", lease_id, exc_info=True)

    def colleagues(self, kind: str) -> list[Lease]:
        """Leases of other workstations (homes) on the shared catalog that are not stopped; none without one."""
        mirror = self.journal.mirror if self.journal is not None else None
        if mirror is None or self.journal is None:
            return []
        return mirror.leases(kind, self.journal.origin)

    def get(self, lease_id: str) -> Lease:
        rows = self.state.query(f"{_SELECT} WHERE leases.id = ?", (lease_id,))
        if not rows:
            raise NotFound(f"No mount session {lease_id!r} (see 'vmrestore mount list')")
        return _row(rows[0])

    def list_leases(self, kind: str | None = None, *, include_stopped: bool = False) -> list[Lease]:
        sql = f"{_SELECT} WHERE 1 = 1"
        params: list[Any] = []
        if kind:
            sql += " AND leases.kind = ?"
            params.append(kind)
        if not include_stopped:
            sql += " AND leases.state != ?"
            params.append(STOPPED)
        return [_row(r) for r in self.state.query(sql + " ORDER BY leases.created", params)]

    def extend(self, lease_id: str, ttl: timedelta) -> Lease:
        """New expiry = now + ``ttl`` (only for an active lease)."""
        if ttl <= timedelta(0):
            raise InvalidInput("A lease must be extended by a positive time, e.g. --ttl 2h")
        expires = datetime.now(UTC) + ttl
        changed = self.state.execute("UPDATE leases SET expires = ?, updated = ? WHERE id = ? AND state = ?",
                                     (expires.isoformat(), datetime.now(UTC).isoformat(), lease_id, ACTIVE))
        if not changed:
            lease = self.get(lease_id)
            raise InvalidInput(f"Mount session {lease_id} is {lease.state}; only an active one can be extended")
        self._share(lease_id)
        return self.get(lease_id)

    def begin_stop(self, lease: Lease, journal: Journal, job_id: str,
                   objects: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[int]:
        """Mark the lease ``stopping`` and journal its objects again (kind, resource, undo), atomically.

        Returns the journal entry ids in the order given; the caller removes the objects and releases
        the entries. If it dies, the sweep removes what is left and :meth:`settle` closes the lease.
        """
        now = datetime.now(UTC).isoformat()
        ids: list[int] = []
        with self.state.transaction() as conn:
            changed = conn.execute(
                "UPDATE leases SET state = ?, owner = ?, updated = ? WHERE id = ? AND state IN (?, ?)",
                (STOPPING, journal.owner.token, now, lease.id, ACTIVE, STOPPING)).rowcount
            if changed != 1:
                raise InvalidInput(f"Mount session {lease.id} is already stopped")
            for kind, resource, undo in objects:
                cursor = conn.execute(
                    "INSERT INTO journal (job_id, kind, resource, params, undo, state, object_created, owner,"
                    " created, updated) VALUES (?, ?, ?, ?, ?, 'pending', 1, ?, ?, ?)",
                    (job_id, kind, resource, json.dumps({"lease": lease.id}),
                     json.dumps(dict(undo), sort_keys=True), journal.owner.token, now, now))
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
        for entry_id in ids:
            journal.sync(entry_id)
        self._share(lease.id)
        return ids

    def finish_stop(self, lease_id: str) -> None:
        self.state.execute("UPDATE leases SET state = ?, updated = ? WHERE id = ?",
                           (STOPPED, datetime.now(UTC).isoformat(), lease_id))
        self._share(lease_id)

    def settle(self, journal: Journal) -> list[str]:
        """Close ``stopping`` leases whose stopping process died and whose objects the sweep removed."""
        open_leases = {str(e.params.get("lease")) for e in journal.pending() if e.params.get("lease")}
        settled = []
        for lease in self.list_leases():
            if lease.state != STOPPING or lease.id in open_leases:
                continue
            if lease.owner and journal.owner.is_alive(lease.owner):
                continue  # a live process (maybe this one) is still stopping it
            self.finish_stop(lease.id)
            settled.append(lease.id)
        return settled
