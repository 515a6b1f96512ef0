"""Resource locks on the shared catalog's server: what serialises two workstations on one datastore.

Each workstation's OS file locks live under its own ``VMRESTORE_HOME``, so two desks never meet there.
With a PostgreSQL catalog they all reach one server: a session advisory lock on ``(LOCK_RESOURCE,
hashtext(key))`` held on a connection of its own is the same lock for every desk, and it disappears
with the connection the moment its holder dies (no stale lock after a crash or a pulled cable).
Installed by the app into :func:`vmrestore.engine.resourcelock.use_shared_locks`.
"""

from __future__ import annotations

from typing import Any

import psycopg

from vmrestore.catalog.pg_schema import LOCK_RESOURCE
from vmrestore.errors import Transient


def _reason(exc: BaseException) -> str:
    # psycopg's messages may quote the connection string; say only the first line, never the URL.
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class PgResourceLock:
    """One key's advisory lock; connects on the first :meth:`try_acquire`, disconnects on :meth:`release`."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.key = key
        self._conn: psycopg.Connection[Any] | None = None

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=15)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                     (LOCK_RESOURCE, self.key)).fetchone()
        except psycopg.Error as exc:
            self.release()
            raise Transient(f"The catalog server failed while locking {self.key}: {_reason(exc)}") from exc
        return bool(row and row[0])

    def release(self) -> None:
        """Closing the session frees its advisory locks; nothing else to undo."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass


class PgResourceLocks:
    """The :class:`vmrestore.engine.resourcelock.SharedLocks` of one PostgreSQL catalog."""

    def __init__(self, url: str) -> None:
        self.url = url

    def lock(self, key: str) -> PgResourceLock:
        return PgResourceLock(self.url, key)
