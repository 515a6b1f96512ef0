"""What a sweep does with a migrate or a discard whose process died (the issue's "a crash at any step is
undone by sweep").

Both jobs write one journal entry before their first change and move its ``step`` forward before each
next one; the entry is released when the job ends. When its owner died, the sweep cannot know how far
vCenter got (a task keeps running after its client dies), so it reads the VM back and decides from
what it sees, never from the step alone:

- **discard** → finish it: power off, delete our deltas, destroy the VM (never a file on the backup
  datastore: ``instant_ops.discard_vm`` refuses a VM whose folder is there and only detaches backup
  disks), mark the record discarded, unmount the export when nothing else uses it.
- **migrate** → if no disk backing (nor the .vmx) is on the backup datastore any more, finish it:
  reconnect the network when it was asked, mark the record migrated, unmount when unused. Otherwise
  the record goes back to ``running``: the VM keeps running from the backup and the operator can
  migrate again. A VM that may already be in production is never destroyed.
"""

from __future__ import annotations

import logging

from vmrestore.app.instant.finish import unmount_if_unused
from vmrestore.app.instant.records import DISCARDED, MIGRATED, RUNNING, InstantRecords
from vmrestore.app.ports import SessionSource
from vmrestore.engine.journal import JournalEntry
from vmrestore.errors import NotFound
from vmrestore.vsphere import instant_ops

# With a shared catalog the entry may be another workstation's whose process died: its record is then read
# from (and written to) the server's copy (``InstantRecords.get(any_desk=True)``).

log = logging.getLogger(__name__)


def finish_discard(connection: SessionSource, records: InstantRecords, entry: JournalEntry) -> None:
    """Finish a discard that died at any step; idempotent (a VM already gone counts as destroyed)."""
    session, rec = connection.session, records.get(str(entry.undo["id"]), any_desk=True)
    deleted = instant_ops.discard_vm(session, rec.vm, rec.backup_datastore)
    rec = records.update(rec.id, state=DISCARDED)
    unmounted = unmount_if_unused(session, records, rec)
    log.info("sweep finished the discard of %s (%s): deleted %s; unmounted %s", rec.id, rec.name,
             ", ".join(deleted) or "nothing more", unmounted or "nothing")


def finish_migrate(connection: SessionSource, records: InstantRecords, entry: JournalEntry) -> None:
    """Finish a migrate whose disks all left the backup, or put the record back to ``running``."""
    session, rec = connection.session, records.get(str(entry.undo["id"]), any_desk=True)
    try:
        backings = instant_ops.disk_backings(session, rec.vm)
        vmx = instant_ops.vm_path(session, rec.vm)
    except NotFound as exc:
        raise NotFound(f"Instant VM {rec.name} ({rec.vm}) no longer exists in vCenter; it was removed outside "
                       f"vmrestore during its migration (journal entry {entry.id} stays open: check the vSphere "
                       "Client).") from exc
    left = [f for b in backings for f in b.chain if instant_ops.datastore_of(f) == rec.backup_datastore]
    if left or instant_ops.datastore_of(vmx) == rec.backup_datastore:
        records.update(rec.id, state=RUNNING)
        log.info("sweep: %s (%s) still reads %s from the backup; back to running (migrate it again)",
                 rec.id, rec.name, ", ".join(left or [vmx]))
        return
    connected = instant_ops.connect_nics(session, rec.vm) if entry.undo.get("connect_network") else 0
    target = instant_ops.datastore_of(vmx)
    note = instant_ops.annotation(session, rec.vm)
    if "Migrated to" not in note:
        instant_ops.set_annotation(session, rec.vm, f"{note}\nMigrated to {target} by vmrestore; now an ordinary VM.")
    rec = records.update(rec.id, state=MIGRATED, datastore=target,
                         network=("connected" if connected else rec.network))
    unmounted = unmount_if_unused(session, records, rec)
    log.info("sweep finished the migration of %s (%s) to %s; unmounted %s", rec.id, rec.name, target,
             unmounted or "nothing")
