"""The orphan quarantine: journaled, audited moves; putting files back; deleting them for good.

Orphans are never deleted straight away: ``OrphanFiles`` moves them to
``[ds] .vmrestore-quarantine/<date>/<original path>`` with :class:`FileMover`. ``restore`` moves
quarantined files back to their original path (never over an existing file); ``purge`` deletes files
quarantined at least N days ago (whole days, by the date folder: ``--older-than 0d`` takes all).

Each move is written to the journal *before* the vSphere call (kind ``vsphere.datastore_file_moved``,
``undo = {"from", "to"}``) and released once the server answered. If the process dies in between, the
entry stays open and the next sweep reverses the move when it happened (the file is back where it was,
see :func:`vmrestore.vsphere.snapshots.quarantine.undo_move`), so a crash never leaves a file in an
unknown place. Every move and deletion is audited (``delete``, ``kind=orphan_quarantine|orphan_restore|
orphan_purge``, with ``to``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from vmrestore.app.ports import AuditTrail, RoleGate, SessionSource
from vmrestore.app.snapshots.types import OrphanFile
from vmrestore.app.undo import FILE_MOVED
from vmrestore.engine.resourcelock import datastore_key, resource_lock
from vmrestore.errors import InvalidInput, VmrestoreError
from vmrestore.model import Action
from vmrestore.vsphere.snapshots import quarantine as vq
from vmrestore.vsphere.snapshots.layout import datastore_of, normalize_path

Say = Callable[[str], None]


class MoveJournal(Protocol):
    """The engine's write-ahead journal, as far as a move needs it."""

    def begin(self, job_id: str, kind: str, resource: str, params: Mapping[str, Any],
              undo: Mapping[str, Any]) -> int: ...

    def released(self, entry_id: int) -> None: ...


def orphan_json(o: OrphanFile) -> dict[str, Any]:
    """One file as ``snapshots orphans --json`` lists it (shared/CLI.md keys, plus ``datastore``)."""
    return {"path": o.path, "datastore": o.datastore, "size": o.size,
            "modified": o.modified.isoformat() if o.modified else None,
            "deletable": o.deletable, "reason": o.reason}


@dataclass(frozen=True, slots=True)
class OrphanOutcome:
    path: str
    size: int
    reason: str = ""
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class Moved:
    source: str
    destination: str
    size: int


@dataclass
class QuarantineReport:
    """What a quarantine, restore or purge did (with ``dry_run``: ``plan`` holds what it would do)."""

    dry_run: bool
    orphans: list[OrphanFile] = field(default_factory=list)  # the files as the re-check saw them
    plan: list[Moved] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)
    purged: list[vq.QuarantinedFile] = field(default_factory=list)
    skipped: list[OrphanOutcome] = field(default_factory=list)
    refused: list[OrphanOutcome] = field(default_factory=list)  # not provably orphaned: never moved
    failed: list[OrphanOutcome] = field(default_factory=list)

    @property
    def refused_by_permission(self) -> bool:
        return bool(self.refused) or any(o.error_code in ("no_permission", "role_denied") for o in self.failed)

    def to_json(self) -> dict[str, Any]:
        """shared/CLI.md: ``{"orphans", "moved", "purged"}``, plus ``plan``, ``skipped``, ``refused``, ``failed``."""
        return {
            "orphans": [orphan_json(o) for o in self.orphans],
            "moved": [{"from": m.source, "to": m.destination, "size": m.size} for m in self.moved],
            "purged": [{"path": q.path, "original": q.original, "quarantined": q.day.isoformat(), "size": q.size}
                       for q in self.purged] if not self.dry_run else [],
            "plan": [{"from": m.source, "to": m.destination, "size": m.size} for m in self.plan]
            + ([{"purge": q.path, "original": q.original, "quarantined": q.day.isoformat(), "size": q.size}
                for q in self.purged] if self.dry_run else []),
            "skipped": [{"path": o.path, "reason": o.reason} for o in self.skipped],
            "refused": [{"path": o.path, "reason": o.reason} for o in self.refused],
            "failed": [{"path": o.path, "reason": o.reason, "error": o.error_code} for o in self.failed],
            "dry_run": self.dry_run,
        }


class FileMover:
    """One journaled, audited move on a datastore (the caller holds the datastore's lock)."""

    def __init__(self, connection: SessionSource, audit: AuditTrail, journal: MoveJournal) -> None:
        self.connection = connection
        self.audit = audit
        self.journal = journal
        self.job_id = f"orphans-{uuid.uuid4().hex[:12]}"

    def move(self, source: str, destination: str, size: int, out: QuarantineReport, *, kind: str,
             say: Say) -> None:
        if out.dry_run:
            out.plan.append(Moved(source, destination, size))
            return
        session = self.connection.session
        ds = datastore_of(source)
        where = {"from": source, "to": destination}
        entry = self.journal.begin(self.job_id, FILE_MOVED, datastore_key(str(session.server), ds), where, where)
        try:
            with self.audit.audited(Action.DELETE, source, size=size, kind=kind, to=destination):
                vq.move_file(session, source, destination)
        except VmrestoreError as exc:
            # The server answered with a fault: nothing moved (MoveDatastoreFile is all or nothing).
            self.journal.released(entry)
            out.failed.append(OrphanOutcome(source, size, str(exc), exc.code))
            return
        self.journal.released(entry)
        say(f"moved {source} -> {destination}")
        out.moved.append(Moved(source, destination, size))


class OrphanQuarantine:
    """Put quarantined files back, or delete them for good (admin only)."""

    def __init__(self, connection: SessionSource, gate: RoleGate, audit: AuditTrail, journal: MoveJournal,
                 home: str | Path, clock: Callable[[], datetime] | None = None) -> None:
        self.connection = connection
        self.gate = gate
        self.audit = audit
        self.journal = journal
        self.home = Path(home)
        self.clock = clock or (lambda: datetime.now(UTC))

    def _server(self) -> str:
        return str(self.connection.session.server)

    def _lock(self, ds: str) -> Any:
        return resource_lock(self.home, datastore_key(self._server(), ds), on_wait=f"datastore {ds}")

    def restore_blocking(self, paths: Sequence[str], *, confirmed: bool, dry_run: bool = False,
                         progress: Say | None = None) -> QuarantineReport:
        """Move each file back to its original path. ``paths``: quarantine paths, or original paths (then
        the newest quarantined copy). A file whose original path is taken again is left where it is."""
        self.gate.require(Action.DELETE)
        if not dry_run and not confirmed:
            raise InvalidInput("Restoring quarantined files needs an explicit confirmation")
        say = progress or (lambda _t: None)
        session = self.connection.session
        out = QuarantineReport(dry_run=dry_run)
        by_ds: dict[str, list[str]] = {}
        for raw in dict.fromkeys(normalize_path(p) for p in paths):
            by_ds.setdefault(datastore_of(raw), []).append(raw)
        mover = FileMover(self.connection, self.audit, self.journal)
        for ds, wanted in sorted(by_ds.items()):
            with self._lock(ds):
                held = vq.list_quarantine(session, ds)
                by_path = {q.path: q for q in held}
                newest: dict[str, vq.QuarantinedFile] = {}
                for h in sorted(held, key=lambda h: h.day):
                    newest[h.original] = h
                for path in wanted:
                    q = by_path.get(path) or newest.get(path)
                    if q is None:
                        out.skipped.append(OrphanOutcome(path, 0, "not in the quarantine"))
                    elif vq.file_exists(session, q.original):
                        out.skipped.append(OrphanOutcome(q.path, q.size, f"{q.original} exists again; not overwritten"))
                    else:
                        mover.move(q.path, q.original, q.size, out, kind="orphan_restore", say=say)
        return out

    def purge_blocking(self, *, older_than_days: int, datastore: str | None = None, confirmed: bool,
                       dry_run: bool = False, progress: Say | None = None) -> QuarantineReport:
        """Delete for good every file quarantined at least ``older_than_days`` whole days ago."""
        self.gate.require(Action.DELETE)
        if older_than_days < 0:
            raise InvalidInput("--older-than must not be negative")
        if not dry_run and not confirmed:
            raise InvalidInput("Purging the quarantine needs an explicit confirmation")
        say = progress or (lambda _t: None)
        session = self.connection.session
        today = self.clock().astimezone(UTC).date()
        stores = vq.accessible_datastores(session, [datastore] if datastore else None)
        if datastore and not stores:
            raise InvalidInput(f"No accessible datastore is called {datastore!r}")
        out = QuarantineReport(dry_run=dry_run)
        for ds in stores:
            with self._lock(ds):
                for q in vq.list_quarantine(session, ds):
                    if (today - q.day).days < older_than_days:
                        continue
                    if dry_run:
                        out.purged.append(q)
                        continue
                    try:
                        with self.audit.audited(Action.DELETE, q.path, size=q.size, kind="orphan_purge",
                                                   original=q.original):
                            vq.delete_file(session, q.path)
                    except VmrestoreError as exc:
                        out.failed.append(OrphanOutcome(q.path, q.size, str(exc), exc.code))
                        continue
                    say(f"purged {q.path}")
                    out.purged.append(q)
        return out

    async def restore(self, paths: Sequence[str], **kwargs: Any) -> QuarantineReport:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.restore_blocking(paths, **kwargs))

    async def purge(self, **kwargs: Any) -> QuarantineReport:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.purge_blocking(**kwargs))
