"""The shared journal on the catalog's PostgreSQL server (:class:`vmrestore.engine.shared.SharedJournal`).

Two tables, created on first use: ``desk_owners`` (one row per process start: workstation, OS user, pid,
start, and ``heartbeat`` in *server* time, so desks with skewed clocks agree on "expired") and
``desk_journal`` (a copy of each local journal entry, keyed by the local journal's ``origin`` and id).
A sweep on another desk picks open entries whose owner's heartbeat is older than the limit, claims them
by compare-and-set on ``owner`` and writes the outcome back.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg

from vmrestore.engine.heartbeat import OwnerInfo
from vmrestore.engine.journal import OPEN_STATES, JournalEntry
from vmrestore.engine.owner import ProcessOwner
from vmrestore.errors import Transient

_SCHEMA = """
CREATE TABLE IF NOT EXISTS desk_owners (
    token TEXT PRIMARY KEY, workstation TEXT NOT NULL, os_user TEXT NOT NULL, pid INTEGER NOT NULL,
    started TIMESTAMPTZ NOT NULL, heartbeat TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS desk_journal (
    id BIGSERIAL PRIMARY KEY, origin TEXT NOT NULL, local_id BIGINT NOT NULL, job_id TEXT NOT NULL,
    kind TEXT NOT NULL, resource TEXT NOT NULL, params TEXT NOT NULL, undo TEXT NOT NULL, state TEXT NOT NULL,
    object_created BOOLEAN NOT NULL, owner TEXT NOT NULL, created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL, error TEXT, UNIQUE (origin, local_id));
CREATE INDEX IF NOT EXISTS desk_journal_state ON desk_journal (state);
"""
_LOCK_SCHEMA = 0x766D7276  # "vmrv": one creator of the tables at a time


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PgSharedJournal:
    """Short connections per call: journal writes are rare, and a process must not hold the pool's slots."""

    def __init__(self, url: str) -> None:
        self.url = url
        with self._conn() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_SCHEMA,))
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

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
