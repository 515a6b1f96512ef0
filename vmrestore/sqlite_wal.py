"""Switching a SQLite file to WAL mode safely when several vmrestore processes open it at once.

Changing the journal mode needs an exclusive lock, and SQLite may answer "database is locked" at once
instead of waiting in the busy handler when another process is opening or checkpointing the same file
(seen: two ``snapshots cleanup`` processes started together on one home). WAL mode is persistent, so
a file already in WAL needs no change at all; otherwise retry for a while before giving up.
"""

from __future__ import annotations

import sqlite3
import time

RETRY_SECONDS = 30.0


def enable_wal(conn: sqlite3.Connection, retry_seconds: float = RETRY_SECONDS) -> None:
    deadline = time.monotonic() + retry_seconds
    delay = 0.01
    while True:
        try:
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
