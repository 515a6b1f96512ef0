"""The local state store: one SQLite file (``<home>/state.sqlite``) for the journal, job history and
the audit chain head.

Why one file with WAL: the GUI, a ``vmrestore sweep`` from a terminal and a scheduled CLI run may all
be open at once; WAL lets readers proceed while one writer commits, and ``busy_timeout`` turns a
short writer collision into a wait instead of an error. ``synchronous=FULL`` because a journal row
must be on disk *before* the vSphere object it describes is created, or a crash could lose the
only record of it.

Thread safety: one connection guarded by a lock. Writes are rare and tiny (a journal step, a job
state change), so serialising them costs nothing measurable and avoids per-thread connections that
outlive executor threads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from vmrestore.errors import VmrestoreError
from vmrestore.sqlite_wal import enable_wal

SCHEMA_VERSION = 3

# Each migration moves the schema from version N to N + 1 (index N). Never edit a shipped entry:
# append a new one, so an older state file upgrades step by step.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        resource TEXT NOT NULL,
        params TEXT NOT NULL,
        undo TEXT NOT NULL,
        state TEXT NOT NULL,
        object_created INTEGER NOT NULL DEFAULT 0,
        owner TEXT NOT NULL,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        error TEXT
    );
    CREATE INDEX journal_state ON journal(state);
    CREATE INDEX journal_job ON journal(job_id);
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        state TEXT NOT NULL,
        fraction REAL,
        text TEXT NOT NULL DEFAULT '',
        submitted TEXT NOT NULL,
        started TEXT,
        finished TEXT,
        error TEXT,
        owner TEXT NOT NULL
    );
    CREATE INDEX jobs_submitted ON jobs(submitted);
    CREATE TABLE audit_head (
        log TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    """,
    # 1 -> 2: instant-recovery VMs that outlive the process that started them (instant list/migrate/stop).
    """
    CREATE TABLE instant_vms (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        vm TEXT NOT NULL,
        point TEXT NOT NULL,
        host TEXT NOT NULL,
        host_name TEXT NOT NULL,
        datastore TEXT NOT NULL,
        backup_datastore TEXT NOT NULL,
        mounted_by_us INTEGER NOT NULL,
        network TEXT NOT NULL,
        state TEXT NOT NULL,
        started TEXT NOT NULL,
        updated TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX instant_vms_state ON instant_vms(state);
    """,
    # 2 -> 3: who owns journal entries and leases (engine.heartbeat): identity and a heartbeat per process.
    """
    CREATE TABLE owners (
        token TEXT PRIMARY KEY,
        workstation TEXT NOT NULL,
        user TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started TEXT NOT NULL,
        heartbeat TEXT NOT NULL
    );
    """,
)


class StateFileTooNew(VmrestoreError):
    """The state file was written by a newer vmrestore; refusing to guess its schema."""

    code = "state_too_new"


class StateStore:
    """The shared SQLite state file; safe to use from any thread and from several processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        self._lock = threading.RLock()
        # isolation_level=None: we issue BEGIN ourselves, so a transaction is exactly what the
        # caller's ``with store.transaction()`` block says, not whatever sqlite3 infers.
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout = 30000")
        enable_wal(self._conn)
        self._conn.execute("PRAGMA synchronous = FULL")
        self._migrate()

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StateFileTooNew(
                    f"{self.path} was written by a newer vmrestore (schema {version}, this one knows "
                    f"{SCHEMA_VERSION}); update vmrestore or point VMRESTORE_HOME elsewhere"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: takes the write lock up front so two processes never both read
        a value and then race to write it (the audit head and journal claims rely on this)."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the affected row count."""
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT in its own transaction; returns the new row id."""
        with self.transaction() as conn:
            rowid = conn.execute(sql, params).lastrowid
            assert rowid is not None
            return rowid

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one read statement and return all rows."""
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise VmrestoreError("the state store is closed")
        return self._conn

    def close(self) -> None:
        """Close the connection; further use raises. Idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
