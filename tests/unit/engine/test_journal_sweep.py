"""The write-ahead journal and the sweep that undoes what a crashed process left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmrestore.engine import Journal, JournalEntry, ProcessOwner, StateStore, Sweeper
from vmrestore.errors import NotFound

from .conftest import python

DISK = "vsphere.disk_attached"
VM = "vsphere.vm_registered"
NAS = "vsphere.nas_mounted"

# A real second process using the engine: journals a hot-add as a job would, then dies without any
# cleanup. ``mode`` "exit" uses os._exit(1); "hang" waits to be killed (SIGKILL / TerminateProcess).
CRASHER = r"""
import json, os, sys, time
from vmrestore.engine import Journal, ProcessOwner, StateStore
home, mode = sys.argv[1], sys.argv[2]
journal = Journal(StateStore(os.path.join(home, "state.sqlite")), ProcessOwner.for_home(home))
ids = []
ids.append(journal.begin("job-crash", "vsphere.nas_mounted", "ds:backup-nfs",
                         {"host": "esx1"}, {"host": "host-1", "datastore_name": "backup-nfs"}))
journal.created(ids[-1])
ids.append(journal.begin("job-crash", "vsphere.disk_attached", "vm:helpdesk-vm",
                         {"point": "repo/vm/p1"}, {"vm": "vm-42"}))
journal.update_undo(ids[-1], {"vm": "vm-42", "device_key": 2001})
journal.created(ids[-1])
print(json.dumps({"ids": ids, "owner": journal.owner.token}), flush=True)
if mode == "exit":
    os._exit(1)
time.sleep(60)
"""


def run_crasher(home: Path, mode: str) -> tuple[list[int], str, object]:
    proc = python(CRASHER, str(home), mode)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else "no output"
    info = json.loads(line)
    return info["ids"], info["owner"], proc


# -- journal ---------------------------------------------------------------------------------------


def test_entry_is_written_before_the_action_runs(journal: Journal, state: StateStore, home: Path) -> None:
    seen: list[JournalEntry] = []

    def attach_disk() -> None:
        # The "vSphere call" looks at the journal through another connection, as a crash-time
        # sweeper in another process would: its entry must already be there.
        reader = StateStore(home / "state.sqlite")
        try:
            seen.extend(Journal(reader, journal.owner).pending())
        finally:
            reader.close()

    entry_id = journal.begin("job-1", DISK, "vm:w10", {"point": "p1"}, {"vm": "vm-7"})
    attach_disk()
    assert [(e.id, e.state, e.object_created, e.undo) for e in seen] == [
        (entry_id, "pending", False, {"vm": "vm-7"})
    ]
    assert seen[0].owner == journal.owner.token


def test_created_update_undo_released(journal: Journal) -> None:
    entry_id = journal.begin("job-1", VM, "vm:restored", {"name": "restored"}, {"name": "restored"})
    journal.update_undo(entry_id, {"name": "restored", "moref": "vm-101"})
    journal.created(entry_id)
    entry = journal.get(entry_id)
    assert (entry.state, entry.object_created) == ("pending", True)
    assert entry.undo == {"moref": "vm-101", "name": "restored"}
    assert entry.updated >= entry.created and entry.created.tzinfo is not None
    journal.released(entry_id)
    journal.released(entry_id)  # idempotent
    assert journal.get(entry_id).state == "done"
    assert journal.pending() == []
    with pytest.raises(ValueError, match="done"):
        journal.created(entry_id)
    with pytest.raises(NotFound):
        journal.released(99999)


def test_secrets_never_reach_the_journal(journal: Journal) -> None:
    with pytest.raises(ValueError, match="secret"):
        journal.begin("job-1", VM, "vm:x", {"guest": {"Password": "hunter2"}}, {})
    with pytest.raises(ValueError, match="secret"):
        journal.begin("job-1", VM, "vm:x", {}, {"session_token": "abc"})
    assert journal.pending() == []


# -- sweep -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["exit", "hang"])
def test_sweep_undoes_what_a_crashed_process_left(home: Path, journal: Journal, mode: str) -> None:
    ids, dead_owner, proc = run_crasher(home, mode)
    calls: list[tuple[str, dict[str, object]]] = []

    def undo(entry: JournalEntry) -> None:
        calls.append((entry.kind, entry.undo))

    sweeper = Sweeper(journal, {DISK: undo, NAS: undo})
    try:
        if mode == "hang":
            # Still alive: its entries are its own business, not orphans.
            assert sweeper.find() == []
            assert sweeper.sweep().found == []
            assert calls == []
    finally:
        proc.kill()  # type: ignore[attr-defined]
        proc.wait()  # type: ignore[attr-defined]

    found = sweeper.find()
    assert [e.id for e in found] == ids and {e.owner for e in found} == {dead_owner}
    result = sweeper.sweep()
    # Newest first: the disk before the datastore it may live on.
    assert calls == [
        (DISK, {"vm": "vm-42", "device_key": 2001}),
        (NAS, {"host": "host-1", "datastore_name": "backup-nfs"}),
    ]
    assert [e.id for e in result.undone] == list(reversed(ids))
    assert result.failed == []
    assert [journal.get(i).state for i in ids] == ["undone", "undone"]
    assert journal.pending() == [] and sweeper.sweep().found == []


def test_entries_of_a_live_owner_are_not_swept(home: Path, journal: Journal, state: StateStore) -> None:
    other = ProcessOwner.for_home(home)
    try:
        Journal(state, other).begin("job-live", DISK, "vm:a", {}, {"vm": "vm-1"})
        journal.begin("job-mine", DISK, "vm:b", {}, {"vm": "vm-2"})
        called: list[int] = []
        result = Sweeper(journal, {DISK: lambda e: called.append(e.id)}).sweep()
        assert result.found == [] and called == []
        assert len(journal.pending()) == 2
    finally:
        other.close()
    # Once that owner is gone (even cleanly, with entries still open), they are orphans.
    assert [e.job_id for e in journal.orphaned()] == ["job-live"]


def test_failing_handler_leaves_entry_open_with_reason(home: Path, journal: Journal) -> None:
    ids, _, proc = run_crasher(home, "exit")
    proc.wait()  # type: ignore[attr-defined]

    def broken(entry: JournalEntry) -> None:
        raise ConnectionError("vCenter unreachable")

    result = Sweeper(journal, {DISK: broken, NAS: lambda e: None}).sweep()
    reason = "ConnectionError: vCenter unreachable"
    assert [(e.id, r) for e, r in result.failed] == [(ids[1], reason)]
    assert [e.id for e in result.undone] == [ids[0]]
    entry = journal.get(ids[1])
    assert (entry.state, entry.error) == ("failed_undo", "ConnectionError: vCenter unreachable")
    assert [e.id for e in journal.pending()] == [ids[1]]
    # Handed back to its dead owner, so the next sweep retries it.
    assert [e.id for e in journal.orphaned()] == [ids[1]]
    retry = Sweeper(journal, {DISK: lambda e: None}).sweep()
    assert [e.id for e in retry.undone] == [ids[1]] and journal.get(ids[1]).error is None


def test_unknown_kind_is_reported_and_left_pending(home: Path, journal: Journal) -> None:
    ids, _, proc = run_crasher(home, "exit")
    proc.wait()  # type: ignore[attr-defined]
    result = Sweeper(journal, {NAS: lambda e: None}).sweep()
    assert len(result.failed) == 1
    entry, reason = result.failed[0]
    assert entry.id == ids[1] and "no undo handler" in reason and DISK in reason
    stored = journal.get(ids[1])
    assert stored.state == "pending" and stored.error == reason
    assert not result.ok


def test_claim_lets_only_one_sweeper_undo(home: Path, journal: Journal, state: StateStore) -> None:
    ids, _, proc = run_crasher(home, "exit")
    proc.wait()  # type: ignore[attr-defined]
    rival_owner = ProcessOwner.for_home(home)
    try:
        rival = Journal(state, rival_owner)
        stale = journal.orphaned()
        assert rival.claim(stale[0])
        assert not journal.claim(stale[0])  # already taken over by a live sweeper
        calls: list[int] = []

        def record(entry: JournalEntry) -> None:
            calls.append(entry.id)

        result = Sweeper(journal, {DISK: record, NAS: record}).sweep()
        assert calls == [ids[1]] and [e.id for e in result.undone] == [ids[1]]
    finally:
        rival_owner.close()
    # The rival died mid-undo: the entry is orphaned again, now under the rival's token.
    assert [(e.id, e.owner) for e in journal.orphaned()] == [(ids[0], rival_owner.token)]
