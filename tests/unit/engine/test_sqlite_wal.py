"""WAL is switched on even while another connection briefly holds the file locked."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from vmrestore.sqlite_wal import enable_wal


def test_enable_wal_waits_for_a_lock_held_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # what a second process mid-migration looks like
    released = threading.Event()

    def release() -> None:
        time.sleep(0.3)
        holder.execute("COMMIT")
        released.set()

    threading.Thread(target=release).start()
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)  # no busy handler: fails at once
    enable_wal(conn, retry_seconds=10)
    assert released.is_set()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    enable_wal(conn)  # already WAL: nothing to change, no lock needed
    conn.close()
    holder.close()
