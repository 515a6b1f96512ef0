"""Deleting orphaned snapshot files against the simulator: shown, re-checked, deleted for real, audited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.snapshots.snaphelpers import attach_as_delta, home_folder, open_session, vms, write_file
from vmrestore.app.snapshots.orphans import OrphanFiles
from vmrestore.errors import InvalidInput, RoleDenied
from vmrestore.model import Action

pytestmark = pytest.mark.vcsim

LOST = "[LocalDS_0] gone-vm/gone-vm-000003.vmdk"
LOST_VMSN = "[LocalDS_0] gone-vm/gone-vm-Snapshot9.vmsn"


def test_delete_only_shown_files_still_orphaned_and_audited(
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
    services = services_for(sim)
    use = OrphanFiles(services)
    shown = use.list_blocking()
    assert {o.path for o in shown.orphans} == {stray, stray_flat, LOST, LOST_VMSN}

    with pytest.raises(InvalidInput):  # one confirmation is not enough
        use.delete_blocking([LOST], confirmed=True, confirmed_again=False)
    dry = use.delete_blocking([LOST, LOST_VMSN], confirmed=False, confirmed_again=False, dry_run=True)
    assert [o.path for o in dry.deleted] == [LOST, LOST_VMSN] and dry.freed_bytes == 0
    assert os.path.exists(local_lost) and os.path.exists(local_vmsn)

    # Between the scan and the deletion a VM starts using the stray delta: it must survive.
    attach_as_delta(session, vm, stray)
    never_shown = "[LocalDS_0] gone-vm/never-listed-000001.vmdk"
    write_file(sim, never_shown, 10)
    # Another process's listing (the CLI): the remembered one, read from the home.
    out = OrphanFiles(services).delete_blocking(
        [LOST, LOST_VMSN, stray, stray_flat, never_shown], confirmed=True, confirmed_again=True)
    assert sorted(o.path for o in out.deleted) == sorted([LOST, LOST_VMSN])
    assert out.freed_bytes == 5300 and out.failed == []
    skipped = {o.path: o.reason for o in out.skipped}
    assert set(skipped) == {stray, stray_flat, never_shown}
    assert "no longer an orphan" in skipped[stray] and "not shown" in skipped[never_shown]
    assert not os.path.exists(local_lost) and not os.path.exists(local_vmsn)  # really gone from the datastore
    assert os.path.exists(local_stray) and os.path.exists(local_stray_flat)  # referenced now: kept
    assert "DeleteDatastoreFile_Task" in sim.methods()
    audit = [(e.target, e.result) for e in services.audit.entries() if e.action == str(Action.DELETE)]
    assert sorted(audit) == sorted([(LOST, "ok"), (LOST_VMSN, "ok")])
    session.close()


def test_a_file_changed_since_it_was_shown_is_kept(
    vcsim_factory: VcsimFactory, services_for  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    local = write_file(sim, LOST, 5000)
    services = services_for(sim)
    use = OrphanFiles(services)
    assert [o.path for o in use.list_blocking().orphans] == [LOST]
    with open(local, "ab") as f:  # something writes to it after the listing...
        f.write(b"more")
    os.utime(local, (os.path.getmtime(local) - 86400 * 30,) * 2)  # ...and it still looks old
    out = use.delete_blocking([LOST], confirmed=True, confirmed_again=True)
    assert out.deleted == [] and "changed" in out.skipped[0].reason and os.path.exists(local)


def test_helpdesk_may_list_but_not_delete(
    vcsim_factory: VcsimFactory, services_for  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    local = write_file(sim, LOST, 5000)
    services = services_for(sim, role="helpdesk")
    use = OrphanFiles(services)
    assert [o.path for o in use.list_blocking().orphans] == [LOST]
    with pytest.raises(RoleDenied):
        use.delete_blocking([LOST], confirmed=True, confirmed_again=True)
    assert os.path.exists(local) and "DeleteDatastoreFile_Task" not in sim.methods()
