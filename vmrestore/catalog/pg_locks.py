"""Resource locks on the shared catalog's server: what serialises two workstations on one datastore.

Each workstation's OS file locks live under its own ``VMRESTORE_HOME``, so two desks never meet there.
With a PostgreSQL catalog they all reach one server: a session advisory lock on ``(LOCK_RESOURCE,
hashtext(key))`` held on a connection of its own is the same lock for every desk, and it disappears
with the connection the moment its holder dies (no stale lock after a crash or a pulled cable).
Installed by the app into :func:`vmrestore.engine.resourcelock.use_shared_locks`.

Who holds a lock: the holding connection's ``application_name`` is the holder's owner token, and
``pg_locks`` with ``pg_stat_activity`` (both readable by any role) say which backend holds which advisory
lock; the token then finds the workstation, user and pid in ``desk_owners``. Read from the lock itself, so
the answer is never a stale record of an earlier holder.
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

    def __init__(self, url: str, key: str, token: str = "") -> None:
        self.url = url
        self.key = key
        self.token = token
        self._conn: psycopg.Connection[Any] | None = None

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                # application_name (at most 63 bytes; a token is shorter) tells other desks who holds it.
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=15,
                                             application_name=self.token[:63])
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                     (LOCK_RESOURCE, self.key)).fetchone()
        except psycopg.Error as exc:
            self.release()
            raise Transient(f"The catalog server failed while locking {self.key}: {_reason(exc)}") from exc
        return bool(row and row[0])

    def holder(self) -> dict[str, Any] | None:
        """The holding process as it registered itself (``None``: free, or a holder without a token)."""
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=15) as conn:
                row = conn.execute(
                    "SELECT a.application_name, o.workstation, o.os_user, o.pid FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid"
                    " LEFT JOIN desk_owners o ON o.token = a.application_name"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
                    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND l.classid = %s::bigint::oid AND l.objid = hashtext(%s)::oid LIMIT 1",
                    (LOCK_RESOURCE, self.key)).fetchone()
        except psycopg.Error as exc:
            raise Transient(f"The catalog server failed while asking who holds {self.key}: {_reason(exc)}") from exc
        if row is None or row[1] is None:
            return None
        return {"token": row[0], "workstation": row[1], "user": row[2], "pid": row[3]}

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

    def __init__(self, url: str, token: str = "") -> None:
        """``token``: this process's owner token (``desk_owners``), shown to a desk that finds the lock taken."""
        self.url = url
        self.token = token

    def lock(self, key: str) -> PgResourceLock:
        return PgResourceLock(self.url, key, self.token)
