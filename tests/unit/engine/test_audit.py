"""The hash-chained audit log: verification catches each kind of tampering, appends are process-safe."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vmrestore.engine import AuditLog, StateStore
from vmrestore.engine.audit import GENESIS

from .conftest import python


@pytest.fixture
def audit(home: Path, state: StateStore) -> AuditLog:
    return AuditLog(home / "audit.log", head_store=state)


def fill(audit: AuditLog, n: int = 5) -> None:
    for i in range(1, n + 1):
        audit.append(action="file_restore", target=f"vm-{i}", result="ok", role="helpdesk",
                     vcenter_user="alice@vsphere.local", detail={"files": i})


def lines(audit: AuditLog) -> list[bytes]:
    return audit.path.read_bytes().splitlines(keepends=True)


def write(audit: AuditLog, parts: list[bytes]) -> None:
    audit.path.write_bytes(b"".join(parts))


def test_append_and_verify(audit: AuditLog) -> None:
    assert audit.verify().ok and audit.verify().entries == 0
    before = datetime.now(UTC)
    fill(audit)
    entries = audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert entries[2].target == "vm-3" and entries[2].detail == {"files": 3} and entries[2].os_user
    assert entries[0].time >= before and entries[0].time.tzinfo is not None
    # The hash is over the canonical JSON of everything but itself.
    raw = json.loads(lines(audit)[0])
    digest = raw.pop("hash")
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(canonical).hexdigest() == digest
    result = audit.verify()
    assert (result.ok, result.entries, result.problems) == (True, 5, [])
    assert audit.entries(since=entries[3].time) == entries[3:]
    assert audit.entries(since=datetime.now(UTC) + timedelta(seconds=5)) == []
    assert audit.entries()[0].vcenter_user == "alice@vsphere.local"


def test_one_changed_byte_is_detected(audit: AuditLog) -> None:
    fill(audit)
    parts = lines(audit)
    assert b'"target":"vm-3"' in parts[2]
    parts[2] = parts[2].replace(b'"target":"vm-3"', b'"target":"vm-8"')
    write(audit, parts)
    result = audit.verify()
    assert not result.ok
    assert result.problems == ["entry seq 3 (line 3) changed: its hash does not match"]


def test_deleted_middle_line_is_detected(audit: AuditLog) -> None:
    fill(audit)
    parts = lines(audit)
    del parts[2]
    write(audit, parts)
    result = audit.verify()
    assert (result.ok, result.entries, result.problems) == (False, 4, ["entries 3..3 removed"])


def test_deleted_last_line_is_detected_and_stays_visible(audit: AuditLog) -> None:
    fill(audit)
    write(audit, lines(audit)[:-2])
    assert audit.verify().problems == ["truncated tail: entries 4..5 removed"]
    # The next legitimate append continues from the recorded head, so the gap cannot be papered over.
    fill(audit, 1)
    assert audit.entries()[-1].seq == 6
    assert audit.verify().problems == ["entries 4..5 removed"]


def test_deleted_last_line_detected_with_sidecar_head(home: Path) -> None:
    audit = AuditLog(home / "audit.log")
    fill(audit, 3)
    assert audit.verify().ok
    write(audit, lines(audit)[:-1])
    assert audit.verify().problems == ["truncated tail: entries 3..3 removed"]


def test_reordered_lines_are_detected(audit: AuditLog) -> None:
    fill(audit)
    parts = lines(audit)
    parts[1], parts[2] = parts[2], parts[1]
    write(audit, parts)
    result = audit.verify()
    assert result.problems == ["entries reordered: seq 2 at line 3 comes after seq 3"]


def test_replaced_entry_breaks_the_chain(audit: AuditLog, home: Path) -> None:
    # A forger rewrites entry 2 with a *valid* self-hash: the next entry's prev_hash exposes it.
    fill(audit)
    parts = lines(audit)
    raw = json.loads(parts[1])
    raw["result"] = "denied"
    body = {k: v for k, v in raw.items() if k != "hash"}
    raw["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    parts[1] = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    write(audit, parts)
    assert audit.verify().problems == ["chain broken at seq 3: it does not follow the entry before it"]


def test_unparsable_line_and_missing_head(audit: AuditLog, home: Path) -> None:
    fill(audit, 2)
    with open(audit.path, "ab") as f:
        f.write(b"{not json\n")
    assert audit.verify().problems == ["line 3: unparsable line"]
    # A torn line without newline: the next append starts a fresh line and keeps the chain.
    with open(audit.path, "ab") as f:
        f.write(b'{"seq": 3')
    fill(audit, 1)
    assert [e.seq for e in audit.entries()] == [1, 2, 3]
    assert audit.verify().problems == ["line 3: unparsable line", "line 4: unparsable line"]
    bare = AuditLog(audit.path, head_store=StateStore(home / "other.sqlite"))
    assert "no chain head recorded for this log: its tail cannot be checked" in bare.verify().problems


APPENDER = r"""
import os, sys, time
from vmrestore.engine import AuditLog, StateStore
home, name = sys.argv[1], sys.argv[2]
log = AuditLog(os.path.join(home, "audit.log"), head_store=StateStore(os.path.join(home, "state.sqlite")))
open(os.path.join(home, "ready-" + name), "w").close()
while not os.path.exists(os.path.join(home, "go")):  # start both writers together: real contention
    time.sleep(0.001)
for i in range(PER_PROCESS):
    log.append(action="browse", target=f"{name}-{i}", result="ok", role="admin", vcenter_user=None)
"""
PER_PROCESS = 150


@pytest.mark.timeout(120)
def test_concurrent_appends_from_two_processes(audit: AuditLog, home: Path) -> None:
    fill(audit, 1)
    code = APPENDER.replace("PER_PROCESS", str(PER_PROCESS))
    procs = [python(code, str(home), name) for name in ("a", "b")]
    deadline = time.monotonic() + 60
    while not all((home / f"ready-{n}").exists() for n in ("a", "b")) and time.monotonic() < deadline:
        time.sleep(0.01)
    (home / "go").touch()
    for proc in procs:
        _, err = proc.communicate(timeout=100)
        assert proc.returncode == 0, err
    total = 2 * PER_PROCESS + 1
    result = audit.verify()
    assert (result.ok, result.entries, result.problems) == (True, total, [])
    entries = audit.entries()
    assert [e.seq for e in entries] == list(range(1, total + 1))
    for name in ("a", "b"):
        mine = [e.target for e in entries if e.target.startswith(f"{name}-")]
        assert mine == [f"{name}-{i}" for i in range(PER_PROCESS)]
