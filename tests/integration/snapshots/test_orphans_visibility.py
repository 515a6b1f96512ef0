"""Orphans are offered only where the scan provably saw every VM, on the simulator.

The simulator enforces no permissions, so the bench (``tests/bench/vcsim/visibility.go``) answers as vCenter
does for an account with partial rights, at the SOAP level: ``hide`` leaves a VM or host out of that
user's results (a ContainerView), ``hide_refs`` also drops it from every reference list (Datastore.vm,
HostSystem.vm), ``missing`` answers a VM's property in ``missingSet``. Each test fails without its mend:
with ``missingSet`` dropped, the VM's delta is offered as a deletable orphan (and moved by the re-check);
without the coverage rules, every orphan here is ``deletable`` for the restricted user.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.snapshots.snaphelpers import grow_delta, home_folder, open_session, vms, write_file
from vmrestore.app.snapshots.types import OrphanFile
from vmrestore.vsphere.snapshots import scan as vscan
from vmrestore.vsphere.snapshots.coverage import REASON_HOSTS, REASON_VMS, REASON_VMX

pytestmark = pytest.mark.vcsim

LOST = "[LocalDS_0] gone-vm/gone-vm-000003.vmdk"
VM0, VM1 = "DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"


def _orphans(services) -> dict[str, OrphanFile]:  # type: ignore[no-untyped-def]
    return {o.path: o for o in services.snapshots.orphans.list_blocking().orphans}


def test_a_vm_whose_layout_is_in_missing_set_protects_its_folder(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    # VM0 answers both layout properties in missingSet (pass 1 asks layout.disk, pass 2 layoutEx).
    sim = vcsim_factory(vm=2, host=1, missing=[f"{VM0}:layout.disk", f"{VM0}:layoutEx"])
    session = open_session(sim, str(tmp_path))
    vm0 = vms(session)[VM0]
    delta = grow_delta(session, sim, vm0, 4096)  # VM0 runs on this delta: it is in use
    local_delta = os.path.join(sim.datastore_dirs["LocalDS_0"], delta.split("] ", 1)[1])
    stale = write_file(sim, f"{home_folder(session, vm0)}/disk1-000009.vmdk", 10)  # in VM0's folder too
    write_file(sim, LOST, 5000)
    services = services_for(sim)
    found = _orphans(services)
    # Nothing in VM0's folder is an orphan (not even the stray one: its layout is unknown); elsewhere is.
    assert set(found) == {LOST} and found[LOST].deletable
    report = services.snapshots.orphans.list_blocking()
    assert any(VM0 in w and "layoutEx" in w for w in report.scan.warnings)
    # The re-check under the datastore lock has the same rule: a listing that (wrongly) showed the delta
    # does not make it movable.
    shown = [OrphanFile("LocalDS_0", delta, 4096, datetime.fromtimestamp(os.path.getmtime(local_delta), UTC))]
    out = services.snapshots.orphans.quarantine_blocking([delta], confirmed=True, shown=shown)
    assert out.moved == [] and [o.path for o in out.skipped] == [delta]
    assert os.path.exists(local_delta) and os.path.exists(stale)
    assert "MoveDatastoreFile_Task" not in sim.methods()
    session.close()


def test_a_vm_hidden_from_the_view_but_named_by_the_datastore_makes_orphans_not_deletable(
    vcsim_factory: VcsimFactory, services_for  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=2, host=1, hide=[f"eve:{VM1}"])
    local = write_file(sim, LOST, 5000)
    admin = _orphans(services_for(sim))
    assert admin[LOST].deletable and admin[LOST].reason == ""
    eve = services_for(sim, user="eve")
    seen = _orphans(eve)
    assert not seen[LOST].deletable and seen[LOST].reason == REASON_VMS
    out = eve.snapshots.orphans.quarantine_blocking([LOST], confirmed=True)
    assert out.moved == [] and [(o.path, o.reason) for o in out.refused] == [(LOST, REASON_VMS)]
    assert out.refused_by_permission and os.path.exists(local)
    assert "MoveDatastoreFile_Task" not in sim.methods()


@pytest.mark.parametrize("folders_max", [32, 0], ids=["folder-by-folder", "whole-datastore"])
def test_a_vm_hidden_from_every_list_is_caught_by_its_vmx(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path, folders_max: int,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """vCenter filtering every list alike: only the datastore's own .vmx files show the hidden VM.

    The .vmx files are looked for in the folders of unreferenced files, one search each, or in the whole
    datastore when there are more such folders than ``VMX_FOLDERS_MAX`` (0 here: always)."""
    monkeypatch.setattr(vscan, "VMX_FOLDERS_MAX", folders_max)
    sim = vcsim_factory(vm=2, host=1, hide_refs=[f"eve:{VM1}"])
    session = open_session(sim, str(tmp_path))
    folder = home_folder(session, vms(session)[VM1])
    hidden_delta = f"{folder}/disk1-000004.vmdk"  # a file VM1 would own (its folder holds VM1.vmx)
    write_file(sim, hidden_delta, 700)
    write_file(sim, LOST, 5000)
    eve = _orphans(services_for(sim, user="eve"))
    assert not eve[hidden_delta].deletable and eve[hidden_delta].reason == REASON_VMX
    assert eve[LOST].deletable  # no VM configuration in gone-vm/: provably nobody's
    admin = _orphans(services_for(sim))
    assert admin[hidden_delta].deletable  # the admin sees VM1, whose layout does not use it
    session.close()


def test_a_datastore_mounted_on_a_host_you_cannot_see_is_not_deletable(
    vcsim_factory: VcsimFactory, services_for  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=2, hide=["eve:DC0_C0_H1"])
    write_file(sim, LOST, 5000)
    assert _orphans(services_for(sim))[LOST].deletable
    seen = _orphans(services_for(sim, user="eve"))
    assert not seen[LOST].deletable and seen[LOST].reason == REASON_HOSTS
