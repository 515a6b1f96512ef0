"""How each journaled vSphere object is undone after a crash.

The engine's ``Sweeper`` only knows journal *kinds*; this module maps each kind to the vSphere
adapter call that removes the object. Handlers are idempotent: an object that is already gone counts
as undone, so a sweep can be repeated safely (e.g. after the simulator or vCenter restarted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from vmrestore.engine.journal import JournalEntry

if TYPE_CHECKING:
    from vmrestore.app.ports import SessionSource
    from vmrestore.engine.journal import Journal
    from vmrestore.engine.state import StateStore

# Journal kinds: one per kind of temporary vSphere object vmrestore creates.
SNAPSHOT_CREATED = "vsphere.snapshot_created"
DISK_ATTACHED = "vsphere.disk_attached"
VM_REGISTERED = "vsphere.vm_registered"
NAS_MOUNTED = "vsphere.nas_mounted"
FILE_MOVED = "vsphere.datastore_file_moved"  # an orphan moved to/from the quarantine (reversed by a sweep)
VM_CREATED = "vsphere.vm_created"  # instant recovery: a new VM whose disks are deltas over the backup
FILE_COPIED = "vsphere.file_copied"  # a datastore file we copied (the instant VM's nvram)
INSTANT_MIGRATING = "instant.migrating"  # a migrate in flight: the sweep finishes it or sets it back to running
INSTANT_DISCARDING = "instant.discarding"  # a discard in flight: the sweep finishes it

UndoHandler = Callable[[JournalEntry], None]


def build_undo_handlers(connection: SessionSource, state: StateStore | None = None,
                        journal: Journal | None = None) -> Mapping[str, UndoHandler]:
    """Handlers bound to the live connection (``NotConnected`` leaves the entry pending).

    ``state`` holds the instant-recovery records: with it, a migrate or discard in flight is finished
    (or set back) by ``app.instant.recover``; without it, such entries stay pending. ``journal`` (a shared
    catalog's mirror) lets that recovery see colleagues' instant VMs before it unmounts a backup datastore.

    The vSphere adapter (and pyVmomi under it) is imported when a handler first runs, not here: every
    command builds these handlers, few ever undo anything.
    """

    def snapshot(entry: JournalEntry) -> None:
        from vmrestore.vsphere import undo_ops

        undo_ops.remove_snapshot(connection.session, entry.undo)

    def disk(entry: JournalEntry) -> None:
        from vmrestore.vsphere import undo_ops

        undo_ops.detach_disk(connection.session, entry.undo)

    def vm(entry: JournalEntry) -> None:
        from vmrestore.vsphere import undo_ops

        undo_ops.unregister_vm(connection.session, entry.undo)

    def nas(entry: JournalEntry) -> None:
        from vmrestore.vsphere import undo_ops

        undo_ops.unmount_nas(connection.session, entry.undo)

    def moved(entry: JournalEntry) -> None:
        from vmrestore.vsphere.snapshots import quarantine

        quarantine.undo_move(connection.session, entry.undo)

    def created_vm(entry: JournalEntry) -> None:
        from vmrestore.vsphere import undo_ops

        undo_ops.discard_created_vm(connection.session, entry.undo)

    def copied(entry: JournalEntry) -> None:
        from vmrestore.vsphere import undo_ops

        undo_ops.delete_copied_file(connection.session, entry.undo)

    handlers: dict[str, UndoHandler] = {
        SNAPSHOT_CREATED: snapshot, DISK_ATTACHED: disk, VM_REGISTERED: vm, NAS_MOUNTED: nas, FILE_MOVED: moved,
        VM_CREATED: created_vm, FILE_COPIED: copied}
    if state is not None:
        records_state = state

        def migrating(entry: JournalEntry) -> None:
            from vmrestore.app.instant import recover
            from vmrestore.app.instant.records import InstantRecords

            recover.finish_migrate(connection, InstantRecords(records_state, journal), entry)

        def discarding(entry: JournalEntry) -> None:
            from vmrestore.app.instant import recover
            from vmrestore.app.instant.records import InstantRecords

            recover.finish_discard(connection, InstantRecords(records_state, journal), entry)

        handlers.update({INSTANT_MIGRATING: migrating, INSTANT_DISCARDING: discarding})
    return handlers
