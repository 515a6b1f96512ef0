"""The journal of shared objects as every workstation sees it (a shared catalog's server).

vCenter objects (NFS datastores, attached disks, instant VMs, app-made snapshots, quarantine moves) are
seen by every desk; the local journal in ``state.sqlite`` is not. With a shared catalog each journal
entry is also written to the server (:class:`SharedJournal`, implemented in the catalog adapter) with
the owner and a heartbeat kept by the server's clock. Another desk's sweep undoes such an entry only
when its owner stopped beating for longer than :func:`~vmrestore.engine.heartbeat.heartbeat_limit`:
never a live colleague's mount.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from vmrestore.engine.heartbeat import OwnerInfo
    from vmrestore.engine.journal import JournalEntry
    from vmrestore.engine.leases import Lease
    from vmrestore.engine.owner import ProcessOwner


@dataclass(frozen=True)
class SharedRecord:
    """A record another desk keeps on purpose (an instant VM), as the server holds its copy."""

    id: str
    origin: str
    state: str
    data: dict[str, Any]
    #: The process that made it (workstation, OS user, pid, start, heartbeat), if its owner row is still there.
    creator: OwnerInfo | None


class SharedJournal(Protocol):
    def register(self, owner: ProcessOwner) -> None:
        """Record this process (workstation, user, pid, start) with a first heartbeat."""

    def beat(self, token: str) -> None:
        """Refresh the heartbeat of ``token`` (server time)."""

    def record(self, origin: str, entry: JournalEntry) -> None:
        """Insert or update the copy of a local entry; ``origin`` names the local journal."""

    def orphaned(self, limit: timedelta, origin: str) -> list[JournalEntry]:
        """Open entries of other journals whose owner's heartbeat is older than ``limit`` (``shared=True``)."""

    def claim(self, entry: JournalEntry, token: str) -> bool:
        """Compare-and-set the owner of a shared entry; ``False`` if another sweeper took it."""

    def settle(self, entry: JournalEntry, state: str, error: str | None) -> None:
        """Write the outcome of an undo of a shared entry."""

    def record_lease(self, origin: str, lease: Lease) -> None:
        """Insert or update the copy of a local lease (what ``mount list --all`` shows other desks)."""

    def leases(self, kind: str, origin: str) -> list[Lease]:
        """Other journals' leases of ``kind`` that are not stopped."""

    def record_instant(self, origin: str, record_id: str, state: str, creator: str,
                       data: Mapping[str, Any]) -> None:
        """Insert or update the copy of an instant VM record (``data``: the record, with ``host``,
        ``backup_datastore`` and ``mounted_by_us``)."""

    def instants(self, *, exclude_origin: str | None = None, record_id: str | None = None) -> list[SharedRecord]:
        """Instant VM records on the server, every desk's (or all but one journal's, or one by id)."""

    def prune_owners(self, grace: timedelta) -> int:
        """Delete owner rows whose process stopped beating more than ``grace`` ago and that own nothing open."""

    def states(self, origin: str, local_ids: list[int]) -> dict[int, str]:
        """The server copy's state of these entries of journal ``origin`` (those it has)."""
