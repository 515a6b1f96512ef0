"""The snapshot scan against the simulator: trees, real delta bytes, leftovers, orphans, one collector pass."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.snapshots.snaphelpers import ds_file, grow_delta, open_session, snapshot, vms
from vmrestore.app.snapshots.classify import Thresholds, build_report
from vmrestore.app.snapshots.types import SnapshotClass
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.snapshots.scan import scan
from vmrestore.vsphere.tasks import wait_for_tasks

pytestmark = pytest.mark.vcsim

DELTA_BYTES = 300_000


@pytest.fixture(scope="module")
def world(vcsim_factory: VcsimFactory, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """VM0: s1 → (real 300 kB delta) → VEEAM s2 → s3; VM1: a ghettoVCB and a Bareos (description) leftover;
    a VM renamed like a Veeam snapshot with an ordinary snapshot; orphaned files on the datastore."""
    sim = vcsim_factory(vm=3, host=2)
    tmp = str(tmp_path_factory.mktemp("snapscan"))
    session = open_session(sim, tmp)
    machines = vms(session)
    names = sorted(machines)
    vm0, vm1, vm2 = (machines[n] for n in names[:3])
    s1 = snapshot(session, vm0, "before-upgrade", "taken by hand", quiesce=True)
    delta = grow_delta(session, sim, vm0, DELTA_BYTES)
    s2 = snapshot(session, vm0, "VEEAM BACKUP TEMPORARY SNAPSHOT", "Please do not delete this snapshot.")
    s3 = snapshot(session, vm0, "child-of-veeam", "")
    g = snapshot(session, vm1, "ghettoVCB-snapshot-2026-01-31", "")
    b = snapshot(session, vm1, "nightly", "BareosTmpSnap_jobId_4711")
    wait_for_tasks(session, [vm2.Rename_Task("VEEAM BACKUP TEMPORARY SNAPSHOT")])
    plain = snapshot(session, vm2, "pre-patch", "monthly patching")
    root = next(iter(sim.datastore_dirs.values()))
    os.makedirs(os.path.join(root, "deleted-vm"), exist_ok=True)
    with open(os.path.join(root, "deleted-vm", "deleted-vm-000002.vmdk"), "wb") as f:
        f.write(b"d" * 4096)
    with open(os.path.join(root, "deleted-vm", "deleted-vm-Snapshot3.vmsn"), "wb") as f:
        f.write(b"s" * 1234)
    old = datetime.now().timestamp() - 30 * 86400
    os.utime(os.path.join(root, "deleted-vm", "deleted-vm-000002.vmdk"), (old, old))
    hour_ago = datetime.now().timestamp() - 3600
    os.utime(os.path.join(root, "deleted-vm", "deleted-vm-Snapshot3.vmsn"), (hour_ago, hour_ago))
    yield {"sim": sim, "session": session, "s1": s1, "s2": s2, "s3": s3, "g": g, "b": b, "plain": plain,
           "delta": delta, "vm0": vm0._moId, "vm2": vm2._moId}
    session.close()


def test_nested_tree_and_real_delta_bytes_are_attributed(world) -> None:  # type: ignore[no-untyped-def]
    result = scan(world["session"])
    vm0 = next(v for v in result.vms if v.moref == world["vm0"])
    by = {s.moref: s for s in vm0.snapshots}
    s1, s2, s3 = by[world["s1"]], by[world["s2"]], by[world["s3"]]
    assert (s1.depth, s2.depth, s3.depth) == (0, 1, 2)
    assert s2.parent == s1.moref and s3.parent == s2.moref and s1.children == (s2.moref,)
    assert s3.is_current and not s1.is_current
    assert s1.quiesced and not s2.quiesced
    # The delta written after s1 is s1's cost: its descriptor and its 300,000-byte extent.
    flat = os.path.getsize(ds_file(world["sim"], world["delta"][:-5] + "-flat.vmdk"))
    descriptor = os.path.getsize(ds_file(world["sim"], world["delta"]))
    assert flat == DELTA_BYTES
    assert s1.delta_bytes == flat + descriptor
    assert {f.kind for f in s1.files} == {"delta", "data"}
    assert s2.delta_bytes == 0 and s3.delta_bytes == 0
    assert vm0.delta_bytes == flat + descriptor
    assert dict(vm0.delta_by_datastore) == {"LocalDS_0": flat + descriptor}


def test_leftovers_by_name_and_description_but_not_by_vm_name(world) -> None:  # type: ignore[no-untyped-def]
    report = build_report(scan(world["session"]), Thresholds(leftover_patterns=("BareosTmpSnap_jobId_*",)),
                          datetime.now(UTC))
    by = {s.moref: s for s in report.snapshots}
    assert SnapshotClass.LEFTOVER in by[world["s2"]].classes
    assert any("Veeam" in r for r in by[world["s2"]].reasons)
    assert SnapshotClass.LEFTOVER in by[world["g"]].classes and "ghettoVCB" in by[world["g"]].reasons[0]
    assert SnapshotClass.LEFTOVER in by[world["b"]].classes and by[world["b"]].reasons[0].startswith("description")
    assert SnapshotClass.LEFTOVER not in by[world["s1"]].classes
    # The VM is *named* like a Veeam snapshot; its own snapshot is an ordinary one.
    plain = by[world["plain"]]
    assert plain.vm == "VEEAM BACKUP TEMPORARY SNAPSHOT"
    assert plain.classes == (SnapshotClass.OK,) and plain.reasons == ()


def test_old_and_large_use_the_thresholds(world) -> None:  # type: ignore[no-untyped-def]
    result = scan(world["session"], orphans=False)
    later = datetime.now(UTC) + timedelta(days=10)
    report = build_report(result, Thresholds(max_age_days=7, max_bytes=DELTA_BYTES // 2), later)
    s1 = next(s for s in report.snapshots if s.moref == world["s1"])
    assert SnapshotClass.OLD in s1.classes and SnapshotClass.LARGE in s1.classes
    s3 = next(s for s in report.snapshots if s.moref == world["s3"])
    assert SnapshotClass.LARGE not in s3.classes
    ds = next(d for d in report.datastores if d.datastore.name == "LocalDS_0")
    assert ds.delta_bytes >= DELTA_BYTES and ds.datastore.capacity > ds.datastore.free > 0


def test_orphaned_files_are_found_with_sizes_and_ages(world) -> None:  # type: ignore[no-untyped-def]
    result = scan(world["session"])
    orphans = {o.path: o for o in result.orphans}
    assert set(orphans) == {
        "[LocalDS_0] deleted-vm/deleted-vm-000002.vmdk",
        "[LocalDS_0] deleted-vm/deleted-vm-Snapshot3.vmsn",
    }
    vmdk = orphans["[LocalDS_0] deleted-vm/deleted-vm-000002.vmdk"]
    assert vmdk.size == 4096 and orphans["[LocalDS_0] deleted-vm/deleted-vm-Snapshot3.vmsn"].size == 1234
    assert vmdk.modified is not None and (datetime.now(UTC) - vmdk.modified).days >= 29
    # The live delta and every .vmsn a VM references are not orphans.
    assert not any("-000001" in p for p in orphans)


def test_a_file_written_during_or_just_before_the_scan_is_never_an_orphan(world) -> None:  # type: ignore[no-untyped-def]
    # What a snapshot taken while the scan runs leaves behind: a delta no layout read so far references.
    root = next(iter(world["sim"].datastore_dirs.values()))
    fresh = os.path.join(root, "deleted-vm", "in-flight-000001.vmdk")
    with open(fresh, "wb") as f:
        f.write(b"n" * 777)
    try:
        result = scan(world["session"])
        assert "[LocalDS_0] deleted-vm/in-flight-000001.vmdk" not in {o.path for o in result.orphans}
        recent = {o.path: o for o in result.recent_unreferenced}
        assert recent["[LocalDS_0] deleted-vm/in-flight-000001.vmdk"].size == 777
        assert any("not offered as orphans" in w for w in result.warnings)
        # Once it is older than the guard (here: no guard), the same file is an orphan.
        later = scan(world["session"], min_orphan_age=timedelta(seconds=-60))
        assert "[LocalDS_0] deleted-vm/in-flight-000001.vmdk" in {o.path for o in later.orphans}
    finally:
        os.remove(fresh)


def test_scan_reads_every_vm_in_one_collector_pass(world) -> None:  # type: ignore[no-untyped-def]
    sim = world["sim"]
    before = len(sim.requests())
    scan(world["session"], orphans=False)
    methods = [r["method"] for r in sim.requests()[before:]]
    # Every VM (one streamed call), the layouts of the VMs with snapshots (one call for all of them),
    # datastores, hosts: never one call per VM.
    assert methods.count("RetrievePropertiesEx") == 4, methods
    assert methods.count("CreateContainerView") == 3
    assert methods.count("CurrentTime") == 1  # the orphan guard's reference time, by vCenter's clock


def test_vm_count_and_only_vms_with_something_to_show(world) -> None:  # type: ignore[no-untyped-def]
    result = scan(world["session"], orphans=False)
    assert result.vm_count == len(retrieve(world["session"], "VirtualMachine", ["name"]))
    assert result.vms and all(v.snapshots or v.unowned_delta or v.consolidation_needed for v in result.vms)
    assert all(v.name for v in result.vms)


def test_datastore_filter_and_unknown_datastore(world) -> None:  # type: ignore[no-untyped-def]
    assert scan(world["session"], datastore="nope", orphans=False).vms == ()
    assert len(scan(world["session"], datastore="LocalDS_0", orphans=False).vms) >= 3


def test_hosts_in_maintenance_are_reported(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A host really put into maintenance mode on the simulator is reported as such, and only that one."""
    session = world["session"]
    hosts = {o.moid: o for o in retrieve(session, "HostSystem", ["name"])}
    assert len(hosts) >= 2
    assert {h.name for h in scan(session, orphans=False).hosts if h.in_maintenance} == set()
    moid, chosen = sorted(hosts.items())[0]
    wait_for_tasks(session, [chosen.ref.EnterMaintenanceMode_Task(0)])
    try:
        (state,) = [o for o in retrieve(session, "HostSystem", ["runtime.inMaintenanceMode"]) if o.moid == moid]
        assert state.props["runtime.inMaintenanceMode"] is True  # the simulator really is in maintenance
        reported = {h.moref: h.in_maintenance for h in scan(session, orphans=False).hosts}
        assert reported[moid] is True and not any(v for m, v in reported.items() if m != moid)
    finally:
        wait_for_tasks(session, [chosen.ref.ExitMaintenanceMode_Task(0)])
    assert {h.name for h in scan(session, orphans=False).hosts if h.in_maintenance} == set()
