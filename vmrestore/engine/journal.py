"""The write-ahead journal of vSphere objects the app creates.

Every step that creates something that must not outlive the job (a hot-added disk, a registered VM,
a mounted NFS datastore, an app-made snapshot) is journalled *before* the vSphere call: if the process
dies between the call and its answer, the entry still exists and the sweep undoes the object. Entries
carry only what an undo handler needs to find the object (names, morefs, paths) and never a secret.

Entry states:

- ``pending``: the job began the step and has not released it. ``object_created`` tells whether the
  job saw the object appear; the sweep undoes pending entries either way, because a crash can fall
  between the server creating the object and our process hearing about it.
- ``done``: the job released the entry (it undid the object, or keeps it on purpose).
- ``undone``: a sweep undid the object after its owner died.
- ``failed_undo``: a sweep's handler failed; ``error`` says why. Still counted as pending, so the next
  sweep retries.
- ``abandoned``: an operator decided the entry needs no undo (e.g. removed the object by hand).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vmrestore.engine.heartbeat import OwnerInfo, OwnerRegistry, owner_columns, owner_info_from
from vmrestore.engine.owner import ProcessOwner
from vmrestore.engine.shared import SharedJournal
from vmrestore.engine.state import StateStore
from vmrestore.errors import NotFound

__all__ = [
    "ABANDONED", "DONE", "FAILED_UNDO", "OPEN_STATES", "PENDING", "UNDONE", "Journal", "JournalEntry",
    "ProcessOwner",
]

log = logging.getLogger(__name__)

PENDING = "pending"
DONE = "done"
UNDONE = "undone"
FAILED_UNDO = "failed_undo"
ABANDONED = "abandoned"

#: States that still need an undo (what :meth:`Journal.pending` returns).
OPEN_STATES = (PENDING, FAILED_UNDO)

# Keys that must never reach the journal: it is a plain file that sweeps, support bundles and
# other users' tools read.
_SECRET_WORDS = ("password", "passwd", "secret", "token", "credential", "cookie", "private_key")


@dataclass(frozen=True)
class JournalEntry:
    id: int
    job_id: str
    kind: str
    resource: str
    params: dict[str, Any]
    undo: dict[str, Any]
    state: str
    owner: str
    created: datetime
    updated: datetime
    error: str | None
    object_created: bool = False
    #: Who wrote ``owner`` (workstation, OS user, pid, start, heartbeat); ``None`` for entries older
    #: than the owners table.
    owner_info: OwnerInfo | None = None
    #: Read from the shared server (another desk's entry), not from this workstation's journal.
    shared: bool = False

    @property
    def is_open(self) -> bool:
        """Still needs an undo (pending, or an earlier sweep failed)."""
        return self.state in OPEN_STATES


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _check_no_secrets(data: Mapping[str, Any], where: str) -> None:
    for key, value in data.items():
        lowered = str(key).lower()
        if any(word in lowered for word in _SECRET_WORDS):
            raise ValueError(f"journal {where} must not carry secrets (key {key!r})")
        if isinstance(value, Mapping):
            _check_no_secrets(value, where)


def _dump(data: Mapping[str, Any], where: str) -> str:
    _check_no_secrets(data, where)
    return json.dumps(dict(data), sort_keys=True, separators=(",", ":"))


def _entry(row: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        id=int(row["id"]),
        job_id=row["job_id"],
        kind=row["kind"],
        resource=row["resource"],
        params=json.loads(row["params"]),
        undo=json.loads(row["undo"]),
        state=row["state"],
        owner=row["owner"],
        created=datetime.fromisoformat(row["created"]),
        updated=datetime.fromisoformat(row["updated"]),
        error=row["error"],
        object_created=bool(row["object_created"]),
        owner_info=owner_info_from(row, "o_"),
    )


# Every read of the journal carries its owner's identity.
_SELECT = (f"SELECT journal.*, {owner_columns('owners', 'o_')} FROM journal"
           " LEFT JOIN owners ON owners.token = journal.owner")


class Journal:
    """Write-ahead records of created vSphere objects, owned by the running process.

    Synchronous on purpose: undo handlers and blocking job code call it from executor threads; async
    code calls it through ``ctx.run_blocking`` so the loop never waits on the disk.
    """

    def __init__(self, state: StateStore, owner: ProcessOwner) -> None:
        self.state = state
        self.owner = owner
        self.owners = OwnerRegistry(state)
        self.owners.register(owner)
        #: The server copy of shared objects' entries (a shared catalog), see :mod:`engine.shared`.
        self.mirror: SharedJournal | None = None
        # Names this journal on the server: one per workstation and home.
        self.origin = f"{owner.host}:{os.path.abspath(state.path)}"

    def use_mirror(self, mirror: SharedJournal | None) -> None:
        self.mirror = mirror
        if mirror is not None:
            mirror.register(self.owner)

    def sync(self, entry_id: int) -> None:
        """Copy an entry changed outside this class (a lease took it over) to the server, best effort."""
        self._mirror(entry_id)

    def _mirror(self, entry_id: int, *, strict: bool = False) -> None:
        """Copy one entry to the server. ``strict`` (a new entry): failing raises, so the object is not
        created without a record every desk can see; later changes are best effort (logged)."""
        if self.mirror is None:
            return
        try:
            self.mirror.record(self.origin, self.get(entry_id))
        except Exception:
            if strict:
                raise
            log.warning("journal entry %s: the shared copy was not updated", entry_id, exc_info=True)

    def prune_owners(self, grace: timedelta) -> int:
        """Forget owners that died more than ``grace`` ago and own nothing open (here, and on the shared
        catalog's server, best effort); returns how many rows went."""
        removed = self.owners.prune(grace, self.owner.is_alive)
        if self.mirror is not None:
            try:
                removed += self.mirror.prune_owners(grace)
            except Exception:
                log.warning("the shared catalog's owner rows were not pruned", exc_info=True)
        return removed

    def shared_orphans(self, limit: timedelta) -> list[JournalEntry]:
        """Other desks' open entries whose owner stopped beating (none without a shared catalog)."""
        return self.mirror.orphaned(limit, self.origin) if self.mirror is not None else []

    def begin(
        self, job_id: str, kind: str, resource: str, params: Mapping[str, Any], undo: Mapping[str, Any]
    ) -> int:
        """Record the intent to create an object; call *before* the vSphere call. Returns the entry id."""
        now = _now()
        entry_id = self.state.insert(
            "INSERT INTO journal (job_id, kind, resource, params, undo, state, owner, created, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, kind, resource, _dump(params, "params"), _dump(undo, "undo"), PENDING,
             self.owner.token, now, now),
        )
        self._mirror(entry_id, strict=True)
        return entry_id

    def update_undo(self, entry_id: int, undo: Mapping[str, Any]) -> None:
        """Replace the undo data, e.g. once the task returned the new object's moref."""
        self._update(entry_id, "undo = ?", (_dump(undo, "undo"),), OPEN_STATES)

    def created(self, entry_id: int) -> None:
        """The object now exists; it still needs an undo (or a release) before the job ends."""
        self._update(entry_id, "object_created = 1", (), OPEN_STATES)

    def released(self, entry_id: int) -> None:
        """The job undid the object or keeps it on purpose: nothing is left to sweep. Idempotent."""
        self._update(entry_id, "state = ?, error = NULL", (DONE,), (*OPEN_STATES, DONE))

    def abandon(self, entry_id: int, reason: str) -> None:
        """An operator decided this entry needs no undo; the reason is kept for the record."""
        self._update(entry_id, "state = ?, error = ?", (ABANDONED, reason), (*OPEN_STATES, ABANDONED))

    def mark_undone(self, entry_id: int) -> None:
        """A sweep undid the object."""
        self._update(entry_id, "state = ?, error = NULL", (UNDONE,), (*OPEN_STATES, UNDONE))

    def mark_failed(self, entry_id: int, reason: str, *, attempted: bool = True) -> None:
        """A sweep could not undo the object; the entry stays open for the next sweep.

        ``attempted=False`` (no handler for the kind) keeps the state ``pending``: nothing was tried,
        so the object is exactly as the crash left it.
        """
        state = FAILED_UNDO if attempted else PENDING
        self._update(entry_id, "state = ?, error = ?", (state, reason), OPEN_STATES)

    def claim(self, entry: JournalEntry) -> bool:
        """Take over an orphaned entry before undoing it; ``False`` if another sweeper got there first.

        Compare-and-set on the owner column: two processes sweeping at once (the GUI's start-up sweep
        and a ``vmrestore sweep`` in a terminal) never run the same undo twice, and if *this* sweeper
        dies mid-undo, the entry is orphaned again under its token and the next sweep retries.
        """
        taken = bool(self.state.execute(
            "UPDATE journal SET owner = ?, updated = ? WHERE id = ? AND owner = ? AND state IN (?, ?)",
            (self.owner.token, _now(), entry.id, entry.owner, *OPEN_STATES),
        ))
        if taken:
            self._mirror(entry.id)
        return taken

    def unclaim(self, entry: JournalEntry) -> None:
        """Hand a claimed entry back to its dead owner so that it shows as orphaned again."""
        self.state.execute(
            "UPDATE journal SET owner = ? WHERE id = ? AND owner = ?",
            (entry.owner, entry.id, self.owner.token),
        )

    def get(self, entry_id: int) -> JournalEntry:
        rows = self.state.query(f"{_SELECT} WHERE journal.id = ?", (entry_id,))
        if not rows:
            raise NotFound(f"journal entry {entry_id} does not exist")
        return _entry(rows[0])

    def pending(self) -> list[JournalEntry]:
        """Entries not released yet, any owner, oldest first."""
        rows = self.state.query(
            f"{_SELECT} WHERE journal.state IN (?, ?) ORDER BY journal.id", OPEN_STATES
        )
        return [_entry(r) for r in rows]

    def for_job(self, job_id: str) -> list[JournalEntry]:
        """Every entry of one job, oldest first."""
        rows = self.state.query(f"{_SELECT} WHERE journal.job_id = ? ORDER BY journal.id", (job_id,))
        return [_entry(r) for r in rows]

    def orphaned(self) -> list[JournalEntry]:
        """Pending entries whose owner process is dead, oldest first (without those another desk's sweep
        already undid: their shared copy says so, and they are marked undone here too)."""
        alive: dict[str, bool] = {}
        result = []
        for entry in self.pending():
            if entry.owner not in alive:
                alive[entry.owner] = self.owner.is_alive(entry.owner)
            if not alive[entry.owner]:
                result.append(entry)
        return self._not_undone_elsewhere(result)

    def _not_undone_elsewhere(self, entries: list[JournalEntry]) -> list[JournalEntry]:
        if self.mirror is None or not entries:
            return entries
        try:
            states = self.mirror.states(self.origin, [e.id for e in entries])
        except Exception:  # the server away: undo them here (undo handlers are idempotent)
            log.warning("the shared journal could not say which entries another desk undid", exc_info=True)
            return entries
        for entry in entries:
            if states.get(entry.id) == UNDONE:
                log.info("journal entry %s (%s) was undone by another workstation's sweep", entry.id, entry.kind)
                self.mark_undone(entry.id)
        return [e for e in entries if states.get(e.id) != UNDONE]

    def _update(
        self, entry_id: int, assignments: str, params: tuple[Any, ...], states: tuple[str, ...]
    ) -> None:
        marks = ", ".join("?" for _ in states)
        with self.state.transaction() as conn:
            count = conn.execute(
                f"UPDATE journal SET {assignments}, updated = ? WHERE id = ? AND state IN ({marks})",
                (*params, _now(), entry_id, *states),
            ).rowcount
            if count == 0:
                row = conn.execute("SELECT state FROM journal WHERE id = ?", (entry_id,)).fetchone()
                if row is None:
                    raise NotFound(f"journal entry {entry_id} does not exist")
                raise ValueError(f"journal entry {entry_id} is {row['state']}; cannot change it that way")
        self._mirror(entry_id)
