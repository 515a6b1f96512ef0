"""Orphaned snapshot files: list them, remember what was shown, delete only what is still orphaned.

Deleting a datastore file cannot be undone, so a file is deleted only when all of these hold:

1. the operator is a vmrestore admin and confirmed twice (the CLI's ``--yes`` is its explicit answer);
2. a scan *showed* it as an orphan: in the GUI the wizard passes the report it showed; the CLI reads
   what ``snapshots scan|orphans`` last listed for this vCenter (``<home>/snapshot-orphans-shown.json``,
   kept a day);
3. a fresh scan, run under the datastore's cross-process lock right before deleting, still calls it an
   orphan (no VM's layout references it, and it was written before that scan started) with the same
   size and modification time as when it was shown.

Every deletion is audited (``delete``, ``kind=orphan_file``); a dry run deletes nothing and says what
would go.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vmrestore.app.bootstrap import AppServices
from vmrestore.app.snapshots.scan import ScanSnapshots
from vmrestore.app.snapshots.types import OrphanFile, SnapshotReport
from vmrestore.engine.resourcelock import datastore_key, resource_lock
from vmrestore.errors import InvalidInput, VmrestoreError
from vmrestore.model import Action
from vmrestore.vsphere.snapshots import ops
from vmrestore.vsphere.snapshots.layout import datastore_of, normalize_path

log = logging.getLogger(__name__)

SHOWN_FILE = "snapshot-orphans-shown.json"
SHOWN_FOR = timedelta(days=1)  # a listing older than this must be shown again before deleting


def orphan_json(o: OrphanFile) -> dict[str, Any]:
    return {"path": o.path, "datastore": o.datastore, "size": o.size,
            "modified": o.modified.isoformat() if o.modified else None}


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
                out[e["path"]] = OrphanFile(e["datastore"], e["path"], int(e["size"]), modified)
            except (KeyError, TypeError, ValueError):
                continue
        return out


@dataclass(frozen=True, slots=True)
class OrphanOutcome:
    path: str
    size: int
    reason: str = ""
    error_code: str | None = None


@dataclass
class OrphanDeletion:
    dry_run: bool
    deleted: list[OrphanOutcome] = field(default_factory=list)  # with dry_run: what would be deleted
    skipped: list[OrphanOutcome] = field(default_factory=list)
    failed: list[OrphanOutcome] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return 0 if self.dry_run else sum(o.size for o in self.deleted)

    @property
    def refused(self) -> bool:
        return any(o.error_code in ("no_permission", "role_denied") for o in self.failed)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "deleted": [] if self.dry_run else [{"path": o.path, "size": o.size} for o in self.deleted],
            "would_delete": [{"path": o.path, "size": o.size} for o in self.deleted] if self.dry_run else [],
            "skipped": [{"path": o.path, "reason": o.reason} for o in self.skipped],
            "failed": [{"path": o.path, "reason": o.reason, "error": o.error_code} for o in self.failed],
            "freed_bytes": self.freed_bytes,
        }


class OrphanFiles:
    """List orphaned snapshot files (anyone who may browse) and delete them (admin only)."""

    def __init__(self, services: AppServices, scanner: ScanSnapshots | None = None) -> None:
        self.services = services
        self.scanner = scanner or ScanSnapshots(services)

    @property
    def shown(self) -> ShownOrphans:
        return ShownOrphans(self.services.paths.home)

    def _server(self) -> str:
        return str(self.services.connection.session.server)

    def remember(self, report: SnapshotReport) -> None:
        """Record the orphans a scan showed (the CLI does this for every listing it prints)."""
        if report.scan.orphans_scanned:
            self.shown.record(self._server(), [d.datastore.name for d in report.datastores], report.orphans)

    def list_blocking(self, *, datastore: str | None = None, progress: Callable[[str], None] | None = None
                      ) -> SnapshotReport:
        report = self.scanner.run_blocking(datastore=datastore, orphans=True, progress=progress)
        self.remember(report)
        return report

    def delete_blocking(
        self,
        paths: Sequence[str],
        *,
        confirmed: bool,
        confirmed_again: bool,
        dry_run: bool = False,
        shown: Iterable[OrphanFile] | None = None,
        lock_timeout: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> OrphanDeletion:
        """Delete ``paths`` that were shown (``shown``, else the remembered listing) and are still orphans."""
        self.services.require(Action.DELETE)
        if not dry_run and not (confirmed and confirmed_again):
            raise InvalidInput("Deleting orphaned files needs two explicit confirmations")
        say = progress or (lambda _t: None)
        server = self._server()
        was_shown = {o.path: o for o in shown} if shown is not None else self.shown.load(server)
        out = OrphanDeletion(dry_run=dry_run)
        groups: dict[str, list[OrphanFile]] = {}
        for raw in dict.fromkeys(paths):
            path = normalize_path(raw)
            before = was_shown.get(path)
            if before is None:
                out.skipped.append(OrphanOutcome(path, 0, "not shown as orphaned by a scan (list the orphans first)"))
                continue
            groups.setdefault(datastore_of(path), []).append(before)
        for ds, files in sorted(groups.items()):
            say(f"Checking {len(files)} file(s) on {ds} again")
            # Held across the re-check and the deletions: no cleanup or deletion of another vmrestore
            # process touches this datastore in between.
            with resource_lock(self.services.paths.home, datastore_key(server, ds), timeout=lock_timeout,
                               on_wait=f"datastore {ds}"):
                fresh = self.scanner.run_blocking(datastore=ds, orphans=True)
                now_orphans = {o.path: o for o in fresh.orphans}
                for before in files:
                    self._one(before, now_orphans.get(before.path), out, say)
        return out

    def _one(self, before: OrphanFile, now: OrphanFile | None, out: OrphanDeletion,
             say: Callable[[str], None]) -> None:
        path = before.path
        if now is None:
            out.skipped.append(OrphanOutcome(path, before.size, "no longer an orphan: a VM references it now, it "
                                             "was written recently, or it is gone"))
            return
        if (now.size, now.modified) != (before.size, before.modified):
            out.skipped.append(OrphanOutcome(path, now.size, "changed since the scan that showed it"))
            return
        if out.dry_run:
            out.deleted.append(OrphanOutcome(path, now.size))
            return
        try:
            with self.services.audited(Action.DELETE, path, size=now.size, kind="orphan_file"):
                ops.delete_datastore_file(self.services.connection.session, path)
        except VmrestoreError as exc:
            out.failed.append(OrphanOutcome(path, now.size, str(exc), exc.code))
            return
        say(f"deleted {path}")
        out.deleted.append(OrphanOutcome(path, now.size))

    async def delete(self, paths: Sequence[str], **kwargs: Any) -> OrphanDeletion:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.delete_blocking(paths, **kwargs))
