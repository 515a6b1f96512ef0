"""Orphaned snapshot files against the simulator: shown, re-checked, quarantined, restored, purged, audited.

Files are read back from the simulator's datastore directory: a move is a real rename there.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.snapshots.snaphelpers import attach_as_delta, home_folder, open_session, vms, write_file
from vmrestore.app.snapshots.orphans import OrphanFiles
from vmrestore.app.undo import FILE_MOVED
from vmrestore.engine.journal import DONE
from vmrestore.errors import InvalidInput, RoleDenied
from vmrestore.model import Action

pytestmark = pytest.mark.vcsim

LOST = "[LocalDS_0] gone-vm/gone-vm-000003.vmdk"
LOST_VMSN = "[LocalDS_0] gone-vm/gone-vm-Snapshot9.vmsn"


def quarantined(path: str, day: date) -> str:
    return path.replace("[LocalDS_0] ", f"[LocalDS_0] .vmrestore-quarantine/{day.isoformat()}/")


def test_quarantine_only_shown_files_still_orphaned_and_audited(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    session = open_session(sim, str(tmp_path))
    (vm,) = vms(session).values()
    folder = home_folder(session, vm)
    # Two delta files in the VM's own folder that no layout references yet (a stray delta pair).
    stray, stray_flat = f"{folder}/disk1-000007.vmdk", f"{folder}/disk1-000007-flat.vmdk"
    local_stray = write_file(sim, stray, 100)
    local_stray_flat = write_file(sim, stray_flat, 4000)
    local_lost = write_file(sim, LOST, 5000)
    local_vmsn = write_file(sim, LOST_VMSN, 300)
    lost_bytes = Path(local_lost).read_bytes()
    services = services_for(sim)
    use = services.snapshots.orphans
    shown = use.list_blocking()
    assert {o.path for o in shown.orphans} == {stray, stray_flat, LOST, LOST_VMSN}
    assert all(o.deletable for o in shown.orphans)

    with pytest.raises(InvalidInput):  # no confirmation
        use.quarantine_blocking([LOST], confirmed=False)
    today = datetime.now(UTC).date()
    dry = use.quarantine_blocking([LOST, LOST_VMSN], confirmed=False, dry_run=True)
    assert [(m.source, m.destination) for m in dry.plan] == [(LOST, quarantined(LOST, today)),
                                                             (LOST_VMSN, quarantined(LOST_VMSN, today))]
    assert dry.moved == [] and os.path.exists(local_lost) and os.path.exists(local_vmsn)

    # Between the scan and the move a VM starts using the stray delta: it must stay.
    attach_as_delta(session, vm, stray)
    never_shown = "[LocalDS_0] gone-vm/never-listed-000001.vmdk"
    write_file(sim, never_shown, 10)
    # Another process's listing (the CLI): the remembered one, read from the home.
    out = services.snapshots.orphans.quarantine_blocking(
        [LOST, LOST_VMSN, stray, stray_flat, never_shown], confirmed=True)
    assert sorted((m.source, m.destination) for m in out.moved) == sorted(
        [(LOST, quarantined(LOST, today)), (LOST_VMSN, quarantined(LOST_VMSN, today))])
    assert out.failed == [] and out.refused == []
    skipped = {o.path: o.reason for o in out.skipped}
    assert set(skipped) == {stray, stray_flat, never_shown}
    assert "no longer an orphan" in skipped[stray] and "not shown" in skipped[never_shown]
    # Moved for real: gone from its place, the same bytes in the quarantine.
    q_lost = os.path.join(sim.datastore_dirs["LocalDS_0"], quarantined(LOST, today).split("] ", 1)[1])
    assert not os.path.exists(local_lost) and not os.path.exists(local_vmsn)
    assert Path(q_lost).read_bytes() == lost_bytes
    assert os.path.exists(local_stray) and os.path.exists(local_stray_flat)  # referenced now: kept
    assert "MoveDatastoreFile_Task" in sim.methods() and "DeleteDatastoreFile_Task" not in sim.methods()
    audit = [(e.target, e.result) for e in services.audit.entries() if e.action == str(Action.DELETE)]
    assert sorted(audit) == sorted([(LOST, "ok"), (LOST_VMSN, "ok")])
    moves = [e for e in services.journal.state.query("SELECT kind, state FROM journal") if e["kind"] == FILE_MOVED]
    assert [m["state"] for m in moves] == [DONE, DONE]
    # The quarantine is never listed as orphans.
    assert {o.path for o in use.list_blocking().orphans} == {never_shown}
    session.close()


def test_quarantine_restore_purge_round_trip(
    vcsim_factory: VcsimFactory, services_for  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    root = sim.datastore_dirs["LocalDS_0"]
    local_lost = write_file(sim, LOST, 5000)
    local_vmsn = write_file(sim, LOST_VMSN, 300)
    original = {LOST: Path(local_lost).read_bytes(), LOST_VMSN: Path(local_vmsn).read_bytes()}
    services = services_for(sim)
    now = datetime.now(UTC)
    old_day, today = (now - timedelta(days=20)).date(), now.date()
    services.snapshots.orphans.list_blocking()
    # LOST went to the quarantine 20 days ago, LOST_VMSN today.
    earlier = OrphanFiles(services.connection, services, services, services.journal, services.paths.home,
                          services.snapshots.scan, clock=lambda: now - timedelta(days=20))
    out = earlier.quarantine_blocking([LOST], confirmed=True)
    assert [m.destination for m in out.moved] == [quarantined(LOST, old_day)]
    out = services.snapshots.orphans.quarantine_blocking([LOST_VMSN], confirmed=True)
    assert [m.destination for m in out.moved] == [quarantined(LOST_VMSN, today)]

    qdir = services.snapshots.quarantine
    # Restore by original path: back in place, same bytes, quarantine copy gone.
    back = qdir.restore_blocking([LOST_VMSN], confirmed=True)
    assert [(m.source, m.destination) for m in back.moved] == [(quarantined(LOST_VMSN, today), LOST_VMSN)]
    assert Path(local_vmsn).read_bytes() == original[LOST_VMSN]
    assert not os.path.exists(os.path.join(root, quarantined(LOST_VMSN, today).split("] ", 1)[1]))
    # Quarantine it again, then a file appears at LOST's place: restoring LOST must not overwrite it.
    services.snapshots.orphans.list_blocking()
    services.snapshots.orphans.quarantine_blocking([LOST_VMSN], confirmed=True)
    write_file(sim, LOST, 10)
    kept = qdir.restore_blocking([quarantined(LOST, old_day)], confirmed=True)
    assert kept.moved == [] and "exists again" in kept.skipped[0].reason
    os.remove(local_lost)

    # Purge: only what went in at least 14 days ago; the dry run deletes nothing.
    dry = qdir.purge_blocking(older_than_days=14, confirmed=False, dry_run=True)
    assert [q.path for q in dry.purged] == [quarantined(LOST, old_day)]
    q_old = os.path.join(root, quarantined(LOST, old_day).split("] ", 1)[1])
    q_new = os.path.join(root, quarantined(LOST_VMSN, today).split("] ", 1)[1])
    assert Path(q_old).read_bytes() == original[LOST]
    gone = qdir.purge_blocking(older_than_days=14, confirmed=True)
    assert [(q.path, q.original, q.size) for q in gone.purged] == [(quarantined(LOST, old_day), LOST, 5000)]
    assert not os.path.exists(q_old) and Path(q_new).read_bytes() == original[LOST_VMSN]
    assert [q.path for q in qdir.purge_blocking(older_than_days=0, confirmed=True).purged] == [
        quarantined(LOST_VMSN, today)]
    assert not os.path.exists(q_new)
    kinds = [e.detail.get("kind") for e in services.audit.entries() if e.action == str(Action.DELETE)]
    assert kinds == ["orphan_quarantine", "orphan_quarantine", "orphan_restore", "orphan_quarantine",
                     "orphan_purge", "orphan_purge"]


def test_a_file_changed_since_it_was_shown_is_kept(
    vcsim_factory: VcsimFactory, services_for  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    local = write_file(sim, LOST, 5000)
    services = services_for(sim)
    use = services.snapshots.orphans
    assert [o.path for o in use.list_blocking().orphans] == [LOST]
    with open(local, "ab") as f:  # something writes to it after the listing...
        f.write(b"more")
    os.utime(local, (os.path.getmtime(local) - 86400 * 30,) * 2)  # ...and it still looks old
    out = use.quarantine_blocking([LOST], confirmed=True)
    assert out.moved == [] and "changed" in out.skipped[0].reason and os.path.exists(local)


def test_helpdesk_may_list_but_not_move(
    vcsim_factory: VcsimFactory, services_for  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    local = write_file(sim, LOST, 5000)
    services = services_for(sim, role="helpdesk")
    use = services.snapshots.orphans
    assert [o.path for o in use.list_blocking().orphans] == [LOST]
    with pytest.raises(RoleDenied):
        use.quarantine_blocking([LOST], confirmed=True)
    with pytest.raises(RoleDenied):
        services.snapshots.quarantine.purge_blocking(older_than_days=0, confirmed=True)
    assert os.path.exists(local) and "MoveDatastoreFile_Task" not in sim.methods()
