"""The cross-process datastore lock, the orphan/recent split, the search-result parser, shown orphans."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vmrestore.app.snapshots.orphans import SHOWN_FOR, ShownOrphans
from vmrestore.engine.resourcelock import datastore_key, lock_path, resource_lock
from vmrestore.errors import Cancelled, Transient
from vmrestore.vsphere.snapshots.dsfiles import FoundFile, parse_search_results
from vmrestore.vsphere.snapshots.raw import RawFile, RawVm
from vmrestore.vsphere.snapshots.scan import classify_files
from vmrestore.vsphere.snapshots.types import OrphanFile

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)

HOLDER = textwrap.dedent("""
    import json, sys, time
    from vmrestore.engine.resourcelock import resource_lock
    home, key, out = sys.argv[1:4]
    with resource_lock(home, key):
        start = time.time()
        time.sleep(0.4)
        end = time.time()
    with open(out, "w") as f:
        json.dump([start, end], f)
""")


def test_two_processes_holding_the_same_datastore_never_overlap(tmp_path: Path) -> None:
    key = datastore_key("VC01.corp.example", "ds1")
    outs = [tmp_path / f"p{i}.json" for i in range(3)]
    keys = [key, key, datastore_key("vc01.corp.example", "ds2")]
    procs = [subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), k, str(o)], cwd=ROOT)
             for k, o in zip(keys, outs, strict=True)]
    for p in procs:
        assert p.wait(timeout=60) == 0
    (a0, a1), (b0, b1), (c0, _c1) = (json.loads(o.read_text()) for o in outs)
    assert a1 <= b0 or b1 <= a0, "two holders of one datastore overlapped"
    # Another datastore of the same vCenter is not blocked by them: it got its lock before the
    # second ds1 holder was done (serialised, the two ds1 holders take at least 0.8 s).
    assert c0 < max(a1, b1)


def test_lock_waits_times_out_or_is_cancelled_and_is_freed_when_its_holder_dies(tmp_path: Path) -> None:
    key = datastore_key("vc", "ds1")
    assert lock_path(tmp_path, key) == lock_path(tmp_path, "datastore:vc:443/ds1")
    assert lock_path(tmp_path, key) == lock_path(tmp_path, datastore_key("VC:443", "ds1"))
    with resource_lock(tmp_path, key):
        with pytest.raises(Transient), resource_lock(tmp_path, key, timeout=0.05):
            pass
        stop = threading.Event()
        stop.set()
        with pytest.raises(Cancelled), resource_lock(tmp_path, key, cancel=stop):
            pass
    # A holder killed while holding it: the kernel frees the lock at once.
    code = (f"import os, time; from vmrestore.engine.resourcelock import resource_lock\n"
            f"with resource_lock({str(tmp_path)!r}, {key!r}):\n    print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    with pytest.raises(Transient), resource_lock(tmp_path, key, timeout=0.05):
        pass
    proc.kill()
    proc.wait()
    proc.stdout.close()
    with resource_lock(tmp_path, key, timeout=5):
        pass


def _vm(moref: str, files: list[str], home: str = "") -> RawVm:
    vm = RawVm(moref=moref, home=home, has_layout_ex=True)
    vm.files = {i: RawFile(i, name, "diskDescriptor", 1) for i, name in enumerate(files)}
    return vm


def test_orphans_are_unreferenced_and_older_than_the_cutoff_unknown_age_is_recent() -> None:
    cutoff = NOW - timedelta(minutes=10)
    found = [
        FoundFile("[ds1] gone/gone-000001.vmdk", 10, NOW - timedelta(days=3)),  # orphan
        FoundFile("[ds1] gone/gone-000002.vmdk", 20, NOW - timedelta(minutes=1)),  # written mid-scan
        FoundFile("[ds1] gone/gone-000003.vmdk", 30, None),  # age unknown
        FoundFile("[ds1] app/app-000001.vmdk", 40, NOW - timedelta(days=3)),  # referenced
    ]
    vms = [_vm("vm-1", ["[ds1] app/app-000001.vmdk"])]
    pass1_only = RawVm(moref="vm-2", disk_files=(("[ds1] old/old-000004.vmdk",),))  # a base named like a delta
    found.append(FoundFile("[ds1] old/old-000004-flat.vmdk", 50, NOW - timedelta(days=90)))
    orphans, recent = classify_files(found, [*vms, pass1_only], cutoff=cutoff)
    assert [o.path for o in orphans] == ["[ds1] gone/gone-000001.vmdk"]
    assert [o.path for o in recent] == ["[ds1] gone/gone-000002.vmdk", "[ds1] gone/gone-000003.vmdk"]
    assert orphans[0] == OrphanFile("ds1", "[ds1] gone/gone-000001.vmdk", 10, NOW - timedelta(days=3))


def test_a_suspended_vm_gets_its_full_layout_read() -> None:
    assert RawVm(moref="vm-1", power_state="suspended").needs_layout_ex()
    assert not RawVm(moref="vm-1", power_state="poweredOn", disk_files=(("[ds] a/a.vmdk",),)).needs_layout_ex()


SEARCH_REPLY = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="Task">task-9</obj>
<propSet><name>info.result</name><val xsi:type="ArrayOfHostDatastoreBrowserSearchResults">
<HostDatastoreBrowserSearchResults><datastore type="Datastore">ds-1</datastore>
<folderPath>[ds1]/gone</folderPath>
<file xsi:type="FileInfo"><path>gone-000001.vmdk</path><fileSize>4096</fileSize>
<modification>2026-11-20T10:00:00.123456789Z</modification></file>
<file xsi:type="FileInfo"><path>gone-Snapshot1.vmsn</path><modification>2026-11-20T10:00:00Z</modification></file>
</HostDatastoreBrowserSearchResults>
<HostDatastoreBrowserSearchResults><datastore type="Datastore">ds-1</datastore><folderPath>[ds1] empty/</folderPath>
</HostDatastoreBrowserSearchResults></val></propSet></objects><token>t-1</token></returnval>
</RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"""


def test_search_results_are_parsed_into_normalised_paths_sizes_and_times() -> None:
    page = parse_search_results(io.BytesIO(SEARCH_REPLY))
    assert page.token == "t-1"
    assert page.files == [
        FoundFile("[ds1] gone/gone-000001.vmdk", 4096, datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)),
        FoundFile("[ds1] gone/gone-Snapshot1.vmsn", 0, datetime(2026, 11, 20, 10, tzinfo=UTC)),  # 0 B: no fileSize
    ]


def test_shown_orphans_are_kept_per_server_and_datastore_for_a_day(tmp_path: Path) -> None:
    clock = [NOW]
    shown = ShownOrphans(tmp_path, clock=lambda: clock[0])
    a = OrphanFile("ds1", "[ds1] x/x-000001.vmdk", 5, NOW - timedelta(days=9))
    b = OrphanFile("ds2", "[ds2] y/y.vmsn", 6, None)
    shown.record("VC01", ["ds1", "ds2"], [a, b])
    assert shown.load("vc01") == {a.path: a, b.path: b}
    shown.record("vc01", ["ds2"], [])  # a new listing of ds2 alone forgets ds2's files only
    assert shown.load("vc01") == {a.path: a}
    assert shown.load("vc02") == {}
    clock[0] = NOW + SHOWN_FOR + timedelta(seconds=1)
    assert shown.load("vc01") == {}


# -- the background watch's decisions ----------------------------------------------------------------

def _report(leftovers: list[str], delta: int, capacity: int = 1000):  # type: ignore[no-untyped-def]
    from vmrestore.app.snapshots.classify import Thresholds, build_report
    from vmrestore.vsphere.snapshots.types import (
        DatastoreState,
        LayoutFile,
        ScanResult,
        SnapshotRecord,
        VmSnapshotState,
    )

    snaps = tuple(
        SnapshotRecord(moref=m, name="VEEAM BACKUP TEMPORARY SNAPSHOT", description="", created=NOW, quiesced=False,
                       memory=False, power_state="poweredOn", parent=None, depth=0, is_current=False,
                       files=(LayoutFile(f"[ds1] vm/{m}-000001.vmdk", delta // max(1, len(leftovers)), "delta"),))
        for m in leftovers
    )
    vm = VmSnapshotState("vm-1", "web01", "poweredOn", None, ("ds-1",), False, snaps,
                         delta_by_datastore=(("ds1", delta),) if snaps else ())
    store = DatastoreState("ds-1", "ds1", capacity, capacity // 2, True)
    return build_report(ScanResult(NOW, (vm,), (store,)), Thresholds(max_bytes=10**12), NOW)


def test_watch_alerts_each_leftover_once_and_a_datastore_share_once_per_crossing() -> None:
    from vmrestore.app.snapshots.watch import SnapshotWatch, notification, watch_interval_minutes

    watch = SnapshotWatch(max_datastore_share=0.10)
    first = watch.evaluate(_report(["snapshot-1"], delta=50))  # 5%: under the limit
    assert [(a.kind, a.key) for a in first] == [("leftover", "snapshot-1")]
    assert watch.evaluate(_report(["snapshot-1"], delta=50)) == []  # same leftover: no repeat
    again = watch.evaluate(_report(["snapshot-1", "snapshot-2"], delta=150))  # new leftover, 15%
    assert sorted((a.kind, a.key) for a in again) == [("datastore_share", "ds1"), ("leftover", "snapshot-2")]
    note = notification(again)
    assert note is not None and "1 new leftover" in note.title and "15.0% of datastore ds1" in note.text
    assert watch.evaluate(_report(["snapshot-1", "snapshot-2"], delta=120)) == []  # still over: no repeat
    assert watch.evaluate(_report(["snapshot-1", "snapshot-2"], delta=95)) == []  # 9.5%: not re-armed yet
    assert watch.evaluate(_report([], delta=0)) == []  # cleaned up: re-armed
    assert [a.kind for a in watch.evaluate(_report(["snapshot-3"], delta=200))] == ["leftover", "datastore_share"]
    assert notification([]) is None
    from vmrestore.app.settings import AppSettings

    assert watch_interval_minutes(AppSettings()) == 0  # off by default
    assert watch_interval_minutes(type("S", (), {"snapshot_watch_minutes": 15})()) == 15
