"""Owner identity (workstation, OS user, pid, start) and the heartbeat on journal entries and leases."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from vmrestore.engine import Journal, ProcessOwner, StateStore
from vmrestore.engine.heartbeat import Heartbeat, OwnerRegistry, heartbeat_interval, heartbeat_limit
from vmrestore.engine.leases import LeaseStore
from vmrestore.engine.state import _MIGRATIONS, SCHEMA_VERSION

from .conftest import python


def test_a_journal_entry_says_who_wrote_it(journal: Journal, owner: ProcessOwner) -> None:
    entry_id = journal.begin("job1", "vsphere.nas_mounted", "host:h1", {}, {"host": "h1", "name": "ds"})
    info = journal.get(entry_id).owner_info
    assert info is not None
    assert info.token == owner.token and info.pid == os.getpid()
    assert info.user == getpass.getuser()
    assert info.workstation == owner.host and owner.host.split(".")[0] in socket.gethostname()
    assert info.started == owner.started and info.heartbeat >= info.started
    assert [e.owner_info for e in journal.pending()] == [info] and journal.for_job("job1")[0].owner_info == info


def test_the_heartbeat_thread_refreshes_until_stopped(state: StateStore, owner: ProcessOwner) -> None:
    # Polls rather than sleeping a fixed 0.3 s against a 0.15 s limit: on a loaded CI machine one beat (an
    # SQLite write) can take longer than that, and the test failed once in a full run.
    registry = OwnerRegistry(state)
    beat = Heartbeat(registry, owner, interval=0.05).start()
    limit = timedelta(seconds=1.0)
    try:
        first = registry.get(owner.token)
        assert first is not None
        deadline = time.monotonic() + 10
        second = registry.get(owner.token)
        while second is not None and second.heartbeat <= first.heartbeat and time.monotonic() < deadline:
            time.sleep(0.02)
            second = registry.get(owner.token)
        assert second is not None and second.heartbeat > first.heartbeat
        assert second.beating(limit=limit)
    finally:
        beat.stop()
    stopped = registry.get(owner.token)
    time.sleep(1.2)
    last = registry.get(owner.token)
    assert stopped is not None and last is not None and last.heartbeat == stopped.heartbeat
    assert not last.beating(limit=limit)
    beat.stop()  # idempotent


def test_a_killed_process_stops_beating(home: Path, state: StateStore) -> None:
    """Another process journals an object and beats; SIGKILL stops its heartbeat (what another desk sees)."""
    proc = python(
        "import sys, time\n"
        "from vmrestore.engine import Journal, ProcessOwner, StateStore\n"
        "from vmrestore.engine.heartbeat import Heartbeat\n"
        "j = Journal(StateStore(sys.argv[1] + '/state.sqlite'), ProcessOwner.for_home(sys.argv[1]))\n"
        "Heartbeat(j.owners, j.owner, interval=0.05).start()\n"
        "j.begin('job', 'vsphere.nas_mounted', 'host:h1', {}, {'host': 'h1'})\n"
        "print(j.owner.token, flush=True); time.sleep(60)\n",
        str(home),
    )
    assert proc.stdout is not None
    token = proc.stdout.readline().strip()
    registry = OwnerRegistry(state)
    limit = timedelta(seconds=1.0)  # generous: one beat can take a while on a loaded CI machine
    try:
        before = registry.get(token)
        assert before is not None and before.pid == proc.pid
        deadline = time.monotonic() + 10
        alive = registry.get(token)
        while alive is not None and alive.heartbeat <= before.heartbeat and time.monotonic() < deadline:
            time.sleep(0.02)
            alive = registry.get(token)
        assert alive is not None and alive.heartbeat > before.heartbeat and alive.beating(limit=limit)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(1.2)
    dead = registry.get(token)
    assert dead is not None and not dead.beating(limit=limit)
    entry = Journal(state, ProcessOwner.for_home(home)).pending()[0]
    assert entry.owner == token and entry.owner_info == dead


def test_a_lease_records_the_process_that_created_it(journal: Journal, state: StateStore) -> None:
    disk = journal.begin("job1", "vsphere.disk_attached", "vm:vm1", {}, {"vm": "vm1", "file": "[ds] x.vmdk"})
    lease = LeaseStore(state).adopt("m-1", "mount", "alice", timedelta(hours=1), {"vm": "vm1"}, [disk])
    assert lease.creator is not None and lease.creator.token == journal.owner.token
    assert lease.creator.pid == os.getpid() and lease.creator.user == getpass.getuser()
    assert [le.creator for le in LeaseStore(state).list_leases()] == [lease.creator]


def test_an_older_state_file_gains_the_owners_table_and_lease_creator(home: Path) -> None:
    home.mkdir(parents=True)
    path = home / "state.sqlite"
    conn = sqlite3.connect(path)
    for step in _MIGRATIONS[:2]:
        conn.executescript(step)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("CREATE TABLE leases (id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL,"
                 " user TEXT NOT NULL, workstation TEXT NOT NULL, created TEXT NOT NULL, expires TEXT NOT NULL,"
                 " updated TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', data TEXT NOT NULL)")
    conn.execute("INSERT INTO leases VALUES ('m-0', 'mount', 'active', 'bob', 'ws', '2026-01-01T00:00:00+00:00',"
                 " '2026-01-02T00:00:00+00:00', '2026-01-01T00:00:00+00:00', '', '{}')")
    conn.commit()
    conn.close()
    state = StateStore(path)
    try:
        assert state.schema_version == SCHEMA_VERSION == 3
        old = LeaseStore(state).get("m-0")
        assert old.user == "bob" and old.creator is None
    finally:
        state.close()


def test_the_beat_interval_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VMRESTORE_HEARTBEAT_SECONDS", "0.5")
    assert heartbeat_interval() == 0.5 and heartbeat_limit() == timedelta(seconds=1.5)
    monkeypatch.setenv("VMRESTORE_HEARTBEAT_SECONDS", "nonsense")
    assert heartbeat_interval() == 30.0
