"""Pure parts of the snapshot monitor: the XML parser, chain ownership, classification, ages."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from vmrestore.app.snapshots.classify import Thresholds, build_report, leftover_reason
from vmrestore.app.snapshots.cleanup import parse_age
from vmrestore.app.snapshots.types import SnapshotClass
from vmrestore.errors import InvalidInput
from vmrestore.vsphere.snapshots.layout import build_vm, normalize_path
from vmrestore.vsphere.snapshots.raw import parse_retrieve_result, parse_time
from vmrestore.vsphere.snapshots.types import DatastoreState, ScanResult, SnapshotRecord

NOW = datetime(2026, 11, 26, tzinfo=UTC)

# A vim25 reply as vCenter writes it (base first in each chain), for one VM: s1 → s2 (current), a
# delta unit after each snapshot, a memory file for s2.
REPLY = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-7</obj>
<propSet><name>name</name><val xsi:type="xsd:string">app01</val></propSet>
<propSet><name>runtime.consolidationNeeded</name><val xsi:type="xsd:boolean">true</val></propSet>
<propSet><name>snapshot</name><val xsi:type="VirtualMachineSnapshotInfo">
<currentSnapshot type="VirtualMachineSnapshot">snapshot-2</currentSnapshot>
<rootSnapshotList><snapshot type="VirtualMachineSnapshot">snapshot-1</snapshot><name>s1</name>
<description>d</description><id>1</id><createTime>2026-11-20T00:00:00.123456789Z</createTime>
<state>poweredOff</state><quiesced>true</quiesced>
<childSnapshotList><snapshot type="VirtualMachineSnapshot">snapshot-2</snapshot><name>s2</name>
<description></description><id>2</id><createTime>2026-11-25T00:00:00Z</createTime><state>poweredOn</state>
<quiesced>false</quiesced></childSnapshotList></rootSnapshotList></val></propSet>
<propSet><name>layoutEx</name><val xsi:type="VirtualMachineFileLayoutEx">
<file><key>1</key><name>[ds1] app01/app01.vmdk</name><type>diskDescriptor</type><size>500</size></file>
<file><key>2</key><name>[ds1] app01/app01-flat.vmdk</name><type>diskExtent</type><size>9000</size></file>
<file><key>3</key><name>[ds1] app01/app01-000001.vmdk</name><type>diskDescriptor</type><size>400</size></file>
<file><key>4</key><name>[ds1] app01/app01-000001-sesparse.vmdk</name><type>diskExtent</type><size>7000</size></file>
<file><key>5</key><name>[ds1] app01/app01-000002.vmdk</name><type>diskDescriptor</type><size>400</size></file>
<file><key>6</key><name>[ds1] app01/app01-000002-sesparse.vmdk</name><type>diskExtent</type><size>3000</size></file>
<file><key>7</key><name>[ds1] app01/app01-Snapshot1.vmsn</name><type>snapshotData</type><size>30</size></file>
<file><key>8</key><name>[ds1] app01/app01-Snapshot2.vmsn</name><type>snapshotData</type><size>40</size></file>
<file><key>9</key><name>[ds1] app01/app01-Snapshot2.vmem</name><type>snapshotMemory</type><size>100</size></file>
<disk><key>2000</key><chain><fileKey>1</fileKey><fileKey>2</fileKey></chain>
<chain><fileKey>3</fileKey><fileKey>4</fileKey></chain><chain><fileKey>5</fileKey><fileKey>6</fileKey></chain></disk>
<snapshot><key type="VirtualMachineSnapshot">snapshot-1</key><dataKey>7</dataKey><memoryKey>-1</memoryKey>
<disk><key>2000</key><chain><fileKey>1</fileKey><fileKey>2</fileKey></chain></disk></snapshot>
<snapshot><key type="VirtualMachineSnapshot">snapshot-2</key><dataKey>8</dataKey><memoryKey>9</memoryKey>
<disk><key>2000</key><chain><fileKey>1</fileKey><fileKey>2</fileKey></chain>
<chain><fileKey>3</fileKey><fileKey>4</fileKey></chain></disk></snapshot>
</val></propSet></objects><token>abc</token></returnval></RetrievePropertiesExResponse>
</soapenv:Body></soapenv:Envelope>"""


def test_parser_and_ownership_base_first() -> None:
    page = parse_retrieve_result(io.BytesIO(REPLY))
    assert page.token == "abc"
    (raw,) = page.vms
    assert raw.name == "app01" and raw.consolidation_needed and raw.current_snapshot == "snapshot-2"
    vm = build_vm(raw)
    s1, s2 = vm.snapshots
    assert s1.created == datetime(2026, 11, 20, 0, 0, 0, 123456, tzinfo=UTC)
    assert (s1.delta_bytes, s1.size) == (7400, 7430)  # the unit written after s1, plus its .vmsn
    assert (s2.delta_bytes, s2.size) == (3400, 3540) and s2.memory and not s1.memory
    assert vm.delta_bytes == 7430 + 3540 and vm.unowned_delta == ()


def test_chain_given_delta_first_is_oriented() -> None:
    reply = REPLY.replace(
        b"<chain><fileKey>1</fileKey><fileKey>2</fileKey></chain>\n<chain><fileKey>3</fileKey><fileKey>4</fileKey>"
        b"</chain><chain><fileKey>5</fileKey><fileKey>6</fileKey></chain>",
        b"<chain><fileKey>5</fileKey><fileKey>6</fileKey></chain><chain><fileKey>3</fileKey><fileKey>4</fileKey>"
        b"</chain><chain><fileKey>1</fileKey><fileKey>2</fileKey></chain>")
    assert reply != REPLY
    vm = build_vm(parse_retrieve_result(io.BytesIO(reply)).vms[0])
    assert [s.delta_bytes for s in vm.snapshots] == [7400, 3400]


def _snap(name: str, description: str = "") -> SnapshotRecord:
    return SnapshotRecord("snapshot-1", name, description, NOW - timedelta(days=1), False, False, "poweredOff",
                          None, 0, True)


@pytest.mark.parametrize(("name", "description", "expected"), [
    ("VEEAM BACKUP TEMPORARY SNAPSHOT", "", True),
    ("x", "Please do not delete this snapshot. It is being used by Veeam Backup.", True),
    ("ghettoVCB-snapshot-2026-01-31", "", True),
    ("BareosTmpSnap_jobId_12", "Bareos Tmp Snap jobId 12 jobName web01", True),
    ("BareosTmpSnap_jobId_12", "", False),  # Bareos always writes its description too
    ("Consolidate Helper- 0", "", True),
    ("vmrestore-mount-1", "", True),
    ("nightly", "line one\nmy-custom-tool temp", True),
    ("before patch", "ghetto", False),
    ("nightly", "line one\nMY-CUSTOM-TOOL temp", False),  # settings patterns are case-sensitive
])
def test_leftover_patterns(name: str, description: str, expected: bool) -> None:
    reason = leftover_reason(_snap(name, description), ["my-custom-tool*"])
    assert (reason is not None) is expected


def test_risky_when_the_datastore_fills_at_current_growth() -> None:
    vm = build_vm(parse_retrieve_result(io.BytesIO(REPLY)).vms[0])
    full = DatastoreState("ds-1", "ds1", capacity=1_000_000, free=60_000, accessible=True)
    report = build_report(ScanResult(NOW, (vm,), (full,)), Thresholds(max_age_days=100), NOW)
    s1 = report.snapshots[0]
    assert SnapshotClass.RISKY in s1.classes and any("needs disk consolidation" in r for r in s1.reasons)
    roomy = DatastoreState("ds-1", "ds1", capacity=10**12, free=10**11, accessible=True)
    report = build_report(ScanResult(NOW, (vm,), (roomy,)), Thresholds(max_age_days=100), NOW)
    assert not any("fills" in r for r in report.snapshots[0].reasons)


def test_small_helpers() -> None:
    assert parse_age("7d") == 7 and parse_age("12h") == 0.5 and parse_age("2w") == 14 and parse_age("3") == 3
    with pytest.raises(InvalidInput):
        parse_age("soon")
    assert normalize_path("[ds]/a//b.vmdk") == "[ds] a/b.vmdk" == normalize_path("[ds] a/b.vmdk")
    assert parse_time("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("path", [
    "[ds] a/b.vmdk", "[ds] ", "[ds]", "[ds]  a", "[ds] a/", "[ds] /a", "[ds] a\\b", "[ds] a/ b", "[ds] a/b ",
    "[d s] a b/c d.vmdk", "[] a", "[ds] a\tb", "[ds] \u2003a", "[ds] a//b", "[ds] a/b\u2003",
])
def test_normalize_path_returns_normal_paths_as_they_are_and_mends_the_rest(path: str) -> None:
    """The fast return of an already normal path gives what splitting and joining gives."""
    ds = path[1:path.index("]")]
    parts = [p for p in path[path.index("]") + 1:].strip().replace("\\", "/").split("/") if p]
    assert normalize_path(path) == f"[{ds}] " + "/".join(parts)
