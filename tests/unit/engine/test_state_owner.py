"""The state file and the owner locks that make "this process is dead" reliable."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from vmrestore.engine import ProcessOwner, StateStore
from vmrestore.engine.state import SCHEMA_VERSION, StateFileTooNew

from .conftest import python


def test_state_is_wal_versioned_and_shared(home: Path, state: StateStore) -> None:
    assert state.schema_version == SCHEMA_VERSION
    assert state.query("PRAGMA journal_mode")[0][0] == "wal"
    state.execute("INSERT INTO audit_head (log, seq, hash) VALUES ('x', 7, 'h')")
    other = StateStore(home / "state.sqlite")  # a second opener (another process's view) migrates nothing
    try:
        assert other.query("SELECT seq FROM audit_head WHERE log = 'x'")[0][0] == 7
    finally:
        other.close()


def test_state_from_a_newer_vmrestore_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateFileTooNew):
        StateStore(path)


def test_state_is_thread_safe(state: StateStore) -> None:
    def worker(n: int) -> None:
        for i in range(50):
            state.execute("INSERT INTO audit_head (log, seq, hash) VALUES (?, ?, 'h')", (f"{n}-{i}", i))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.query("SELECT count(*) FROM audit_head")[0][0] == 200


def test_closed_store_refuses(state: StateStore) -> None:
    state.close()
    state.close()  # idempotent
    with pytest.raises(Exception, match="closed"):
        state.query("SELECT 1")


def test_owner_liveness_follows_the_lock(home: Path, owner: ProcessOwner) -> None:
    assert owner.is_alive(owner.token)
    other = ProcessOwner.for_home(home)
    assert other.token != owner.token
    # Another open file description on the same lock conflicts even inside one process.
    assert owner.is_alive(other.token)
    other.close()
    assert not owner.is_alive(other.token)
    assert not (home / "owners" / f"{other.token}.lock").exists()
    assert not owner.is_alive("never-existed-1-abc")
    assert not owner.is_alive("../escape")


def test_owner_of_a_killed_process_is_dead_and_pruned(home: Path, owner: ProcessOwner) -> None:
    proc = python(
        "import sys, time\n"
        "from vmrestore.engine import ProcessOwner\n"
        "o = ProcessOwner.for_home(sys.argv[1]); print(o.token, flush=True); time.sleep(60)\n",
        str(home),
    )
    assert proc.stdout is not None
    token = proc.stdout.readline().strip()
    try:
        assert owner.is_alive(token)
    finally:
        proc.kill()
        proc.wait()
    lock_file = home / "owners" / f"{token}.lock"
    assert lock_file.exists()  # no clean close: the file stays, but its lock died with the process
    assert not owner.is_alive(token)
    assert owner.prune_dead() == 1
    assert not lock_file.exists()
