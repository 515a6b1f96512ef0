"""The shared journal on the catalog's PostgreSQL server (:class:`vmrestore.engine.shared.SharedJournal`).

Three tables from the catalog's migration 3 (``catalog.pg_schema``): ``desk_owners`` (one row per process
start: workstation, OS user, pid, start, and ``heartbeat`` in *server* time, so desks with skewed clocks agree
on "expired"), ``desk_journal`` (a copy of each local journal entry, keyed by the local journal's ``origin``
and id) and ``desk_leases`` (what ``mount list --all`` shows of other desks). A sweep on another desk picks
open entries whose owner's heartbeat is older than the limit, claims them by compare-and-set on ``owner``
and writes the outcome back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import psycopg

from vmrestore.engine.heartbeat import OwnerInfo
from vmrestore.engine.journal import OPEN_STATES, JournalEntry
from vmrestore.engine.leases import STOPPED, Lease
from vmrestore.engine.owner import ProcessOwner
from vmrestore.engine.shared import SharedRecord
from vmrestore.errors import Transient


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PgSharedJournal:
    """Short connections per call: journal writes are rare, and a process must not hold the pool's slots."""

    def __init__(self, url: str) -> None:
        """The tables come with the catalog's migration 3 (created by the schema's owner, granted to operators)."""
        self.url = url

    def _conn(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, connect_timeout=15)
        except psycopg.Error as exc:
            raise Transient(f"The catalog server failed (shared journal): {_reason(exc)}") from exc

    def _run(self, sql: str, params: tuple[Any, ...]) -> int:
        try:
            with self._conn() as conn:
                return conn.execute(sql, params).rowcount
        except psycopg.Error as exc:
            raise Transient(f"The catalog server failed (shared journal): {_reason(exc)}") from exc

    def register(self, owner: ProcessOwner) -> None:
        self._run("INSERT INTO desk_owners VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (token) DO NOTHING",
                  (owner.token, owner.host, owner.user, owner.pid, owner.started))

    def beat(self, token: str) -> None:
        self._run("UPDATE desk_owners SET heartbeat = now() WHERE token = %s", (token,))

    def record(self, origin: str, entry: JournalEntry) -> None:
        self._run(
            "INSERT INTO desk_journal (origin, local_id, job_id, kind, resource, params, undo, state,"
            " object_created, owner, created, updated, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s) ON CONFLICT (origin, local_id) DO UPDATE SET undo = EXCLUDED.undo,"
            " state = EXCLUDED.state, object_created = EXCLUDED.object_created, owner = EXCLUDED.owner,"
            " updated = EXCLUDED.updated, error = EXCLUDED.error"
            # a desk that swept the copy already decided; a late local change never reopens it
            " WHERE desk_journal.state IN ('pending', 'failed_undo')",
            (origin, entry.id, entry.job_id, entry.kind, entry.resource, json.dumps(entry.params),
             json.dumps(entry.undo), entry.state, entry.object_created, entry.owner, entry.created, entry.updated,
             entry.error),
        )

    def orphaned(self, limit: timedelta, origin: str) -> list[JournalEntry]:
        try:
            with self._conn() as conn:
                rows = conn.execute(
                    "SELECT j.id, j.job_id, j.kind, j.resource, j.params, j.undo, j.state, j.owner, j.created,"
                    " j.updated, j.error, j.object_created, o.workstation, o.os_user, o.pid, o.started, o.heartbeat"
                    " FROM desk_journal j JOIN desk_owners o ON o.token = j.owner"
                    " WHERE j.state IN (%s, %s) AND j.origin <> %s AND o.heartbeat < now() - %s ORDER BY j.id",
                    (*OPEN_STATES, origin, limit),
                ).fetchall()
        except psycopg.Error as exc:
            raise Transient(f"The catalog server failed (shared journal): {_reason(exc)}") from exc
        return [JournalEntry(
            id=r[0], job_id=r[1], kind=r[2], resource=r[3], params=json.loads(r[4]), undo=json.loads(r[5]),
            state=r[6], owner=r[7], created=r[8], updated=r[9], error=r[10], object_created=r[11],
            owner_info=OwnerInfo(token=r[7], workstation=r[12], user=r[13], pid=r[14], started=r[15],
                                 heartbeat=r[16]),
            shared=True) for r in rows]

    def claim(self, entry: JournalEntry, token: str) -> bool:
        return self._run("UPDATE desk_journal SET owner = %s, updated = now() WHERE id = %s AND owner = %s"
                         " AND state IN (%s, %s)", (token, entry.id, entry.owner, *OPEN_STATES)) == 1

    def settle(self, entry: JournalEntry, state: str, error: str | None) -> None:
        """The outcome; a failed undo goes back to the dead owner so that the next sweep, any desk, retries."""
        self._run("UPDATE desk_journal SET state = %s, error = %s, owner = %s, updated = now() WHERE id = %s",
                  (state, error, entry.owner, entry.id))

    def record_lease(self, origin: str, lease: Lease) -> None:
        self._run(
            "INSERT INTO desk_leases VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE"
            " SET state = EXCLUDED.state, expires = EXCLUDED.expires, data = EXCLUDED.data",
            (lease.id, origin, lease.kind, lease.state, lease.user, lease.workstation,
             lease.creator.token if lease.creator else "", lease.created, lease.expires,
             json.dumps(lease.data, sort_keys=True)),
        )

    def leases(self, kind: str, origin: str) -> list[Lease]:
        """Other journals' leases of ``kind`` that are not stopped, with their creator's identity."""
        try:
            with self._conn() as conn:
                rows = conn.execute(
                    "SELECT l.id, l.kind, l.state, l.os_user, l.workstation, l.created, l.expires, l.data, l.creator,"
                    " o.workstation, o.os_user, o.pid, o.started, o.heartbeat FROM desk_leases l"
                    " LEFT JOIN desk_owners o ON o.token = l.creator"
                    " WHERE l.kind = %s AND l.origin <> %s AND l.state <> %s ORDER BY l.created",
                    (kind, origin, STOPPED)).fetchall()
        except psycopg.Error as exc:
            raise Transient(f"The catalog server failed (shared journal): {_reason(exc)}") from exc
        return [Lease(id=r[0], kind=r[1], state=r[2], user=r[3], workstation=r[4], created=r[5], expires=r[6],
                      owner="", data=json.loads(r[7]),
                      creator=OwnerInfo(token=r[8], workstation=r[9], user=r[10], pid=r[11], started=r[12],
                                        heartbeat=r[13]) if r[9] is not None else None) for r in rows]

    def record_instant(self, origin: str, record_id: str, state: str, creator: str,
                       data: Mapping[str, Any]) -> None:
        self._run(
            "INSERT INTO desk_instant VALUES (%s, %s, %s, %s, %s, %s, %s, now(), %s) ON CONFLICT (id) DO UPDATE"
            " SET state = EXCLUDED.state, updated = EXCLUDED.updated, data = EXCLUDED.data",
            (record_id, origin, state, creator, str(data.get("host", "")), str(data.get("backup_datastore", "")),
             bool(data.get("mounted_by_us")), json.dumps(dict(data), sort_keys=True, default=str)))

    def instants(self, *, exclude_origin: str | None = None, record_id: str | None = None) -> list[SharedRecord]:
        try:
            with self._conn() as conn:
                rows = conn.execute(
                    "SELECT i.id, i.origin, i.state, i.data, i.creator, o.workstation, o.os_user, o.pid, o.started,"
                    " o.heartbeat FROM desk_instant i LEFT JOIN desk_owners o ON o.token = i.creator"
                    " WHERE (%s::text IS NULL OR i.origin <> %s) AND (%s::text IS NULL OR i.id = %s) ORDER BY i.id",
                    (exclude_origin, exclude_origin, record_id, record_id)).fetchall()
        except psycopg.Error as exc:
            raise Transient(f"The catalog server failed (shared journal): {_reason(exc)}") from exc
        return [SharedRecord(id=r[0], origin=r[1], state=r[2], data=json.loads(r[3]),
                             creator=OwnerInfo(token=r[4], workstation=r[5], user=r[6], pid=r[7], started=r[8],
                                               heartbeat=r[9]) if r[5] is not None else None) for r in rows]

    def prune_owners(self, grace: timedelta) -> int:
        try:
            with self._conn() as conn:
                row = conn.execute("SELECT desk_owners_prune(%s)", (grace,)).fetchone()
        except psycopg.Error as exc:
            raise Transient(f"The catalog server failed (shared journal): {_reason(exc)}") from exc
        return int(row[0]) if row else 0

    def states(self, origin: str, local_ids: list[int]) -> dict[int, str]:
        try:
            with self._conn() as conn:
                rows = conn.execute("SELECT local_id, state FROM desk_journal WHERE origin = %s"
                                    " AND local_id = ANY(%s)", (origin, local_ids)).fetchall()
        except psycopg.Error as exc:
            raise Transient(f"The catalog server failed (shared journal): {_reason(exc)}") from exc
        return {int(r[0]): str(r[1]) for r in rows}
