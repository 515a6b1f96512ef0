"""Who a journal entry or lease belongs to, and a heartbeat that says its owner still runs.

The owner lock (:mod:`vmrestore.engine.owner`) answers "alive?" only on the machine that holds it.
A colleague's desk cannot test another workstation's file lock, so every process also records its
identity (workstation, OS user, pid, start time) in the state store's ``owners`` table and refreshes
``heartbeat`` every few seconds from a daemon thread. A heartbeat older than
:func:`heartbeat_limit` (3 beats by default) means the owner stopped beating: it died, or its
machine did. Local sweeps keep using the lock; the heartbeat is what another desk can see.

``VMRESTORE_HEARTBEAT_SECONDS`` sets the beat (tests use a fraction of a second).

Every process start adds an owner row. A row is deleted (:meth:`OwnerRegistry.prune`, and on a shared
catalog the server's ``desk_owners_prune``) once its process stopped beating longer than
:func:`owner_grace` ago (``VMRESTORE_OWNER_GRACE_SECONDS``, 7 days) and nothing open names it any more: no
pending journal entry, no live lease, no active instant VM. Until then the row says who made what.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vmrestore.engine.owner import ProcessOwner
from vmrestore.engine.state import StateStore

__all__ = ["Heartbeat", "OwnerInfo", "OwnerRegistry", "heartbeat_interval", "heartbeat_limit", "owner_grace"]

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 30.0
#: A heartbeat older than this many beats means the owner is gone.
MISSED_BEATS = 3


def heartbeat_interval() -> float:
    """Seconds between beats: ``VMRESTORE_HEARTBEAT_SECONDS`` or 30."""
    raw = os.environ.get("VMRESTORE_HEARTBEAT_SECONDS", "")
    try:
        value = float(raw) if raw else DEFAULT_INTERVAL
    except ValueError:
        value = DEFAULT_INTERVAL
    return value if value > 0 else DEFAULT_INTERVAL


def heartbeat_limit() -> timedelta:
    """How old a heartbeat may be before its owner counts as dead (3 beats)."""
    return timedelta(seconds=heartbeat_interval() * MISSED_BEATS)


DEFAULT_OWNER_GRACE = timedelta(days=7)


def owner_grace() -> timedelta:
    """How long a dead owner's row is kept once it owns nothing: ``VMRESTORE_OWNER_GRACE_SECONDS`` or 7 days
    (never less than the heartbeat limit: a row must not go while its owner may still be beating)."""
    raw = os.environ.get("VMRESTORE_OWNER_GRACE_SECONDS", "")
    try:
        grace = timedelta(seconds=float(raw)) if raw else DEFAULT_OWNER_GRACE
    except ValueError:
        grace = DEFAULT_OWNER_GRACE
    return max(grace, heartbeat_limit())


@dataclass(frozen=True)
class OwnerInfo:
    """The process behind an owner token, as it recorded itself."""

    token: str
    workstation: str
    user: str
    pid: int
    started: datetime
    heartbeat: datetime

    def beating(self, now: datetime | None = None, limit: timedelta | None = None) -> bool:
        """``True`` while the last beat is younger than ``limit`` (default :func:`heartbeat_limit`)."""
        return (now or datetime.now(UTC)) - self.heartbeat < (limit or heartbeat_limit())

    def as_dict(self) -> dict[str, Any]:
        return {"token": self.token, "workstation": self.workstation, "user": self.user, "pid": self.pid,
                "started": self.started.isoformat(), "heartbeat": self.heartbeat.isoformat()}


def owner_info_from(row: Any, prefix: str = "") -> OwnerInfo | None:
    """An :class:`OwnerInfo` from a row that joined ``owners`` (columns ``<prefix>workstation`` ...)."""
    if row[f"{prefix}workstation"] is None:
        return None
    return OwnerInfo(token=row[f"{prefix}token"], workstation=row[f"{prefix}workstation"],
                     user=row[f"{prefix}user"], pid=int(row[f"{prefix}pid"]),
                     started=datetime.fromisoformat(row[f"{prefix}started"]),
                     heartbeat=datetime.fromisoformat(row[f"{prefix}heartbeat"]))


def owner_columns(table: str, prefix: str) -> str:
    """The select list that :func:`owner_info_from` reads, for a join of ``owners`` aliased ``table``."""
    return ", ".join(f"{table}.{c} AS {prefix}{c}"
                     for c in ("token", "workstation", "user", "pid", "started", "heartbeat"))


class OwnerRegistry:
    """The ``owners`` table: one row per process start that wrote to this state store."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def register(self, owner: ProcessOwner) -> None:
        """Record this process's identity (idempotent); its first heartbeat is now."""
        now = datetime.now(UTC).isoformat()
        self.state.execute(
            "INSERT OR IGNORE INTO owners (token, workstation, user, pid, started, heartbeat)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (owner.token, owner.host, owner.user, owner.pid, owner.started.isoformat(), now),
        )

    def beat(self, token: str) -> None:
        self.state.execute("UPDATE owners SET heartbeat = ? WHERE token = ?", (datetime.now(UTC).isoformat(), token))

    def prune(self, grace: timedelta, is_alive: Callable[[str], bool]) -> int:
        """Delete the rows of owners that stopped beating more than ``grace`` ago, are dead by their OS lock,
        and own nothing open here: no pending journal entry, no lease that is not stopped, no active instant
        VM. Returns how many went."""
        cutoff = (datetime.now(UTC) - grace).isoformat()
        with self.state.transaction() as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            sql = ("SELECT token FROM owners o WHERE heartbeat < ? AND NOT EXISTS (SELECT 1 FROM journal j"
                   " WHERE j.owner = o.token AND j.state IN ('pending', 'failed_undo'))")
            if "leases" in tables:  # made by the first LeaseStore
                sql += (" AND NOT EXISTS (SELECT 1 FROM leases l WHERE (l.creator = o.token OR l.owner = o.token)"
                        " AND l.state <> 'stopped')")
            if "instant_vms" in tables:
                sql += (" AND NOT EXISTS (SELECT 1 FROM instant_vms i WHERE json_extract(CASE WHEN"
                        " json_valid(i.detail) THEN i.detail ELSE '{}' END, '$.creator') = o.token"
                        " AND i.state IN ('running', 'migrating', 'discarding'))")
            tokens = [r[0] for r in conn.execute(sql, (cutoff,))]
            gone = [t for t in tokens if not is_alive(t)]
            conn.executemany("DELETE FROM owners WHERE token = ?", [(t,) for t in gone])
        return len(gone)

    def get(self, token: str) -> OwnerInfo | None:
        rows = self.state.query(f"SELECT {owner_columns('owners', '')} FROM owners WHERE token = ?", (token,))
        return owner_info_from(rows[0]) if rows else None


class Heartbeat:
    """A daemon thread refreshing one owner's heartbeat every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, registry: OwnerRegistry, owner: ProcessOwner, interval: float | None = None,
                 also: Sequence[Callable[[str], None]] = ()) -> None:
        """``also``: more places to beat (the shared catalog's server, where other desks look)."""
        self.registry = registry
        self.owner = owner
        self.also = tuple(also)
        self.interval = interval if interval is not None else heartbeat_interval()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        if self._thread is None:
            self.registry.register(self.owner)
            self._thread = threading.Thread(target=self._run, name="vmrestore-heartbeat", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for beat in (self.registry.beat, *self.also):
                try:
                    beat(self.owner.token)
                except Exception:  # a closed store at shutdown, a server away: the next beat retries
                    log.debug("heartbeat of %s failed", self.owner.token, exc_info=True)

    def stop(self) -> None:
        """Stop beating (idempotent); waits for the thread so no beat hits a closed store."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
