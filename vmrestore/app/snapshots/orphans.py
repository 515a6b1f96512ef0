"""Orphaned snapshot files: list them, remember what was shown, quarantine only what is still orphaned.

A file leaves its place only when all of these hold:

1. the operator is a vmrestore admin and confirmed (the CLI's ``--yes`` is its explicit answer, the
   wizard's button naming the action is the GUI's);
2. a scan *showed* it as an orphan: in the GUI the wizard passes the report it showed; the CLI reads
   what ``snapshots scan|orphans`` last listed for this vCenter (``<home>/snapshot-orphans-shown.json``,
   kept a day);
3. a fresh scan, run under the datastore's cross-process lock right before the move, still calls it an
   orphan (no VM's layout references it, it was written before that scan started) with the same size
   and modification time as when it was shown, **and** calls it deletable: the scan provably saw every
   VM that could use it (``vsphere.snapshots.coverage``). A file only "possibly orphaned" is refused.

"Delete" moves the file into ``[ds] .vmrestore-quarantine/<date>/<original path>`` (see
:mod:`vmrestore.app.snapshots.quarantine`: journaled, audited, reversible with ``--restore``; only
``--purge`` deletes for good). A dry run moves nothing and returns the plan.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vmrestore.app.ports import AuditTrail, RoleGate, SessionSource
from vmrestore.app.snapshots.quarantine import FileMover, MoveJournal, OrphanOutcome, QuarantineReport, orphan_json
from vmrestore.app.snapshots.scan import ScanSnapshots
from vmrestore.app.snapshots.types import OrphanFile, SnapshotReport
from vmrestore.engine.resourcelock import datastore_key, resource_lock
from vmrestore.errors import InvalidInput
from vmrestore.model import Action
from vmrestore.vsphere.snapshots.layout import datastore_of, normalize_path
from vmrestore.vsphere.snapshots.quarantine import quarantine_path

__all__ = ["SHOWN_FOR", "OrphanFiles", "OrphanOutcome", "QuarantineReport", "ShownOrphans", "orphan_json"]

log = logging.getLogger(__name__)

SHOWN_FILE = "snapshot-orphans-shown.json"
SHOWN_FOR = timedelta(days=1)  # a listing older than this must be shown again before deleting


class ShownOrphans:
    """What the last listings showed, per vCenter and datastore (a small JSON file in the home)."""

    def __init__(self, home: str | Path, clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(home) / SHOWN_FILE
        self.clock = clock or (lambda: datetime.now(UTC))

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def record(self, server: str, datastores: Iterable[str], orphans: Iterable[OrphanFile]) -> None:
        """Replace what is remembered for these datastores of ``server`` with ``orphans``."""
        data = self._read()
        scanned = set(datastores)
        now = self.clock().isoformat()
        entries = [e for e in data.get(server.casefold(), []) if e.get("datastore") not in scanned]
        entries += [{**orphan_json(o), "shown": now} for o in orphans]
        data[server.casefold()] = entries
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".orphans-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.path)

    def load(self, server: str) -> dict[str, OrphanFile]:
        """Path → file as shown, for listings younger than :data:`SHOWN_FOR`."""
        oldest = self.clock() - SHOWN_FOR
        out: dict[str, OrphanFile] = {}
        for e in self._read().get(server.casefold(), []):
            try:
                if datetime.fromisoformat(e["shown"]) < oldest:
                    continue
                modified = datetime.fromisoformat(e["modified"]) if e.get("modified") else None
                out[e["path"]] = OrphanFile(e["datastore"], e["path"], int(e["size"]), modified,
                                            bool(e.get("deletable", False)), str(e.get("reason", "")))
            except (KeyError, TypeError, ValueError):
                continue
        return out


class OrphanFiles:
    """List orphaned snapshot files (anyone who may browse) and quarantine them (admin only)."""

    def __init__(self, connection: SessionSource, gate: RoleGate, audit: AuditTrail, journal: MoveJournal,
                 home: str | Path, scanner: ScanSnapshots, clock: Callable[[], datetime] | None = None) -> None:
        self.connection = connection
        self.gate = gate
        self.audit = audit
        self.journal = journal
        self.home = Path(home)
        self.scanner = scanner
        self.clock = clock or (lambda: datetime.now(UTC))

    @property
    def shown(self) -> ShownOrphans:
        return ShownOrphans(self.home)

    def _server(self) -> str:
        return str(self.connection.session.server)

    def remember(self, report: SnapshotReport) -> None:
        """Record the orphans a scan showed (the CLI does this for every listing it prints)."""
        if report.scan.orphans_scanned:
            self.shown.record(self._server(), [d.datastore.name for d in report.datastores], report.orphans)

    def list_blocking(self, *, datastore: str | None = None, progress: Callable[[str], None] | None = None
                      ) -> SnapshotReport:
        report = self.scanner.run_blocking(datastore=datastore, orphans=True, progress=progress)
        self.remember(report)
        return report

    def quarantine_blocking(
        self,
        paths: Sequence[str],
        *,
        confirmed: bool,
        dry_run: bool = False,
        shown: Iterable[OrphanFile] | None = None,
        lock_timeout: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> QuarantineReport:
        """Move ``paths`` that were shown (``shown``, else the remembered listing) and are still deletable
        orphans into the quarantine; with ``dry_run``, return that plan and move nothing."""
        self.gate.require(Action.DELETE)
        if not dry_run and not confirmed:
            raise InvalidInput("Moving orphaned files to the quarantine needs an explicit confirmation")
        say = progress or (lambda _t: None)
        server = self._server()
        was_shown = {o.path: o for o in shown} if shown is not None else self.shown.load(server)
        out = QuarantineReport(dry_run=dry_run)
        groups: dict[str, list[OrphanFile]] = {}
        for raw in dict.fromkeys(paths):
            path = normalize_path(raw)
            before = was_shown.get(path)
            if before is None:
                out.skipped.append(OrphanOutcome(path, 0, "not shown as orphaned by a scan (list the orphans first)"))
                continue
            groups.setdefault(datastore_of(path), []).append(before)
        mover = FileMover(self.connection, self.audit, self.journal)
        day = self.clock().astimezone(UTC).date()
        for ds, files in sorted(groups.items()):
            say(f"Checking {len(files)} file(s) on {ds} again")
            # Held across the re-check and the moves: no cleanup, move or purge of another vmrestore
            # process touches this datastore in between.
            with resource_lock(self.home, datastore_key(server, ds), timeout=lock_timeout,
                               on_wait=f"datastore {ds}"):
                fresh = self.scanner.run_blocking(datastore=ds, orphans=True)
                now_orphans = {o.path: o for o in fresh.orphans}
                out.orphans.extend(now_orphans.get(b.path, b) for b in files)
                for before in files:
                    self._one(before, now_orphans.get(before.path), day, out, mover, say)
        return out

    def _one(self, before: OrphanFile, now: OrphanFile | None, day: Any, out: QuarantineReport,
             mover: FileMover, say: Callable[[str], None]) -> None:
        path = before.path
        if now is None:
            out.skipped.append(OrphanOutcome(path, before.size, "no longer an orphan: a VM references it now, it "
                                             "was written recently, or it is gone"))
            return
        if not now.deletable:
            out.refused.append(OrphanOutcome(path, now.size, now.reason, "not_provable"))
            return
        if (now.size, now.modified) != (before.size, before.modified):
            out.skipped.append(OrphanOutcome(path, now.size, "changed since the scan that showed it"))
            return
        mover.move(path, quarantine_path(path, day), now.size, out, kind="orphan_quarantine", say=say)

    async def quarantine(self, paths: Sequence[str], **kwargs: Any) -> QuarantineReport:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.quarantine_blocking(paths, **kwargs))
