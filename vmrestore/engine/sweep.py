"""Finding and undoing what a dead process left behind.

Runs at every start and as ``vmrestore sweep``. The sweeper knows nothing about vSphere: later
features register one undo handler per journal ``kind`` (the app layer builds the mapping from the
vSphere adapter), which keeps the engine free of pyVmomi and lets tests drive it with plain functions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from vmrestore.engine.heartbeat import heartbeat_limit
from vmrestore.engine.journal import FAILED_UNDO, UNDONE, Journal, JournalEntry

log = logging.getLogger(__name__)

#: Undo one journalled object. Synchronous and blocking (runs in an executor thread); raises on
#: failure; must be idempotent: an object that is already gone counts as success, because a crash
#: may fall before the create call reached the server, or after a previous undo succeeded.
UndoHandler = Callable[[JournalEntry], None]


@dataclass
class SweepResult:
    found: list[JournalEntry] = field(default_factory=list)
    undone: list[JournalEntry] = field(default_factory=list)
    failed: list[tuple[JournalEntry, str]] = field(default_factory=list)
    #: Owner rows deleted after the sweep (dead past their grace, owning nothing open).
    owners_pruned: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


class Sweeper:
    """Undoes orphaned journal entries with the registered handlers, newest first."""

    def __init__(self, journal: Journal, handlers: Mapping[str, UndoHandler]) -> None:
        self.journal = journal
        self.handlers = dict(handlers)

    def find(self) -> list[JournalEntry]:
        """Orphaned entries (their owner process is dead), oldest first; with a shared catalog also other
        desks' entries whose owner's heartbeat expired (never a live colleague's)."""
        return self.journal.orphaned() + self.journal.shared_orphans(heartbeat_limit())

    def sweep(self) -> SweepResult:
        """Undo every orphaned entry, in reverse creation order.

        Reverse order because later objects depend on earlier ones: the disk hot-added to a VM
        registered from an NFS datastore must go before the VM, and the VM before the datastore.
        A failure does not stop the sweep: an unrelated leftover still gets cleaned.
        """
        return self._undo(self.find(), claim=True)

    def undo_job(self, job_id: str) -> SweepResult:
        """Undo what a finished job of *this* process left open (the scheduler's safety net).

        A job is meant to release its own entries; when it fails or forgets, the objects it made
        must not wait for the next start-up to be removed.
        """
        mine = [e for e in self.journal.for_job(job_id) if e.is_open and e.owner == self.journal.owner.token]
        return self._undo(mine, claim=False)

    def _undo(self, entries: Iterable[JournalEntry], *, claim: bool) -> SweepResult:
        found = list(entries)
        result = SweepResult(found=found)
        for entry in sorted(found, key=lambda e: e.id, reverse=True):
            handler = self.handlers.get(entry.kind)
            if handler is None:
                reason = (
                    f"no undo handler for kind {entry.kind!r}; left pending for a newer vmrestore or an admin"
                )
                if not entry.shared:  # a colleague's entry has no row here: left on the server as it is
                    self.journal.mark_failed(entry.id, reason, attempted=False)
                result.failed.append((entry, reason))
                continue
            if entry.shared:
                self._undo_shared(entry, handler, result)
                continue
            if claim and not self.journal.claim(entry):
                log.info("journal entry %s is being swept by another process", entry.id)
                continue
            try:
                handler(entry)
            except Exception as exc:  # a handler failure is data for the report, never a crash
                reason = f"{type(exc).__name__}: {exc}"
                log.warning("undo of %s %s failed: %s", entry.kind, entry.resource, reason)
                self.journal.mark_failed(entry.id, reason)
                if claim:
                    self.journal.unclaim(entry)
                result.failed.append((entry, reason))
                continue
            self.journal.mark_undone(entry.id)
            result.undone.append(self.journal.get(entry.id))
        return result

    def _undo_shared(self, entry: JournalEntry, handler: UndoHandler, result: SweepResult) -> None:
        """Another desk's entry whose owner died: claimed and settled on the server (it has no local row)."""
        mirror = self.journal.mirror
        assert mirror is not None
        if not mirror.claim(entry, self.journal.owner.token):
            log.info("shared journal entry %s is being swept by another desk", entry.id)
            return
        try:
            handler(entry)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("undo of %s %s (left by %s) failed: %s", entry.kind, entry.resource,
                        entry.owner_info.workstation if entry.owner_info else entry.owner, reason)
            mirror.settle(entry, FAILED_UNDO, reason)
            result.failed.append((entry, reason))
            return
        mirror.settle(entry, UNDONE, None)
        result.undone.append(entry)
