"""The fast path for VM replies reads exactly what ElementTree reads, or hands the reply to it.

Each reply is parsed by both :func:`raw.parse_retrieve_result` (ElementTree, the reference) and
:func:`fastxml.parse_retrieve_result_fast`, whole and in small reads (so that ``</objects>`` and
``<!`` fall across read boundaries); the fallback is observed through the ``fallback`` argument.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO
from xml.etree.ElementTree import Element, ParseError

import pytest

from tests.unit.snapshots.test_orphan_coverage import REPLY as MISSING_REPLY
from tests.unit.snapshots.test_snapshots_pure import REPLY as DETAIL_REPLY
from vmrestore.vsphere.snapshots import fastxml
from vmrestore.vsphere.snapshots.raw import ParsedPage, RawVm, parse_retrieve_result

HEAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/'
        b'encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/'
        b'XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        b'<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>')
TAIL = b"</returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"


def vm(n: int, *, name: bytes = b"", extra: bytes = b"") -> bytes:
    """One VM as vCenter sends it in the scan's first pass."""
    named = b"<propSet><name>name</name><val xsi:type=\"xsd:string\">" + name + b"</val></propSet>" if name else b""
    return (b'<objects><obj type="VirtualMachine">vm-%d</obj>' % n + named
            + b'<propSet><name>layout.disk</name><val xsi:type="ArrayOfVirtualMachineFileLayoutDiskLayout">'
            b"<VirtualMachineFileLayoutDiskLayout><key>2000</key><diskFile>[ds1] vm%d/vm%d.vmdk</diskFile>"
            b"<diskFile>[ds1] vm%d/vm%d-000001.vmdk</diskFile></VirtualMachineFileLayoutDiskLayout>"
            b"<VirtualMachineFileLayoutDiskLayout><key>2001</key><diskFile>[ds2] vm%d/b.vmdk</diskFile>"
            b"</VirtualMachineFileLayoutDiskLayout></val></propSet>" % (n, n, n, n, n)
            + b'<propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">suspended</val>'
            b"</propSet><propSet><name>runtime.consolidationNeeded</name><val xsi:type=\"xsd:boolean\">true</val>"
            b'</propSet><propSet><name>config.files.vmPathName</name><val xsi:type="xsd:string">[ds1] vm%d/vm%d.vmx'
            b"</val></propSet>" % (n, n)
            + b'<propSet><name>datastore</name><val xsi:type="ArrayOfManagedObjectReference">'
            b'<ManagedObjectReference type="Datastore">datastore-1</ManagedObjectReference>'
            b'<ManagedObjectReference type="Datastore">datastore-2</ManagedObjectReference></val></propSet>'
            + extra + b"</objects>")


SNAPSHOT = (b'<propSet><name>snapshot</name><val xsi:type="VirtualMachineSnapshotInfo"><currentSnapshot '
            b'type="VirtualMachineSnapshot">snapshot-1</currentSnapshot><rootSnapshotList><snapshot type="Virtual'
            b'MachineSnapshot">snapshot-1</snapshot><name>a &amp; b</name><description></description><id>1</id>'
            b"<createTime>2026-11-20T00:00:00Z</createTime><state>poweredOff</state><quiesced>false</quiesced>"
            b"</rootSnapshotList></val></propSet>")
MISSING = (b"<missingSet><path>layoutEx</path><fault><fault xsi:type=\"NoPermission\"><privilegeId>System.Read"
           b"</privilegeId></fault><localizedMessage>denied</localizedMessage></fault></missingSet>")


class Reads:
    """A stream handing out at most ``size`` bytes per read."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size, self.pos = data, size, 0

    def read(self, n: int = -1) -> bytes:
        n = self.size if n < 0 else min(n, self.size)
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def both(data: bytes, monkeypatch: pytest.MonkeyPatch, chunk: int | None = None) -> tuple[ParsedPage, bool, int]:
    """(the fast path's page, whether it handed the reply to ElementTree, how many objects it handed over
    one by one); asserts the page equals ElementTree's."""
    used: list[bool] = []

    def fallback(stream: IO[bytes]) -> ParsedPage:
        used.append(True)
        return parse_retrieve_result(stream)

    want = parse_retrieve_result(io.BytesIO(data))
    whole_objects = fastxml.vm_from_element

    def counted(elem: Element) -> RawVm:
        used.append(False)  # one object read by ElementTree
        return whole_objects(elem)

    monkeypatch.setattr(fastxml, "vm_from_element", counted)
    if chunk is not None:
        monkeypatch.setattr(fastxml, "_CHUNK", chunk)
    got = fastxml.parse_retrieve_result_fast(Reads(data, chunk or len(data) + 1), fallback=fallback)  # type: ignore[arg-type]
    assert got == want
    return got, any(used), used.count(False)


@pytest.mark.parametrize("chunk", [None, 7, 100, 1000])
def test_the_first_pass_shape_is_read_without_elementtree(chunk: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    data = HEAD + b"<token>t-1</token>" + b"".join(vm(i) for i in range(30)) + TAIL
    page, fell_back, objects = both(data, monkeypatch, chunk)
    assert not fell_back and not objects and page.token == "t-1" and len(page.vms) == 30
    first = page.vms[0]
    assert first.disk_files == (("[ds1] vm0/vm0.vmdk", "[ds1] vm0/vm0-000001.vmdk"), ("[ds2] vm0/b.vmdk",))
    assert (first.power_state, first.consolidation_needed, first.home) == ("suspended", True, "[ds1] vm0/vm0.vmx")
    assert first.datastores == ("datastore-1", "datastore-2") and first.needs_layout_ex()


@pytest.mark.parametrize("extra", [SNAPSHOT, MISSING, SNAPSHOT + MISSING])
def test_other_values_and_missing_sets_go_through_elementtree(extra: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    data = HEAD + vm(1) + vm(2, name=b"web &lt;01&gt;", extra=extra) + vm(3) + b"<token>x</token>" + TAIL
    page, fell_back, objects = both(data, monkeypatch, 64)
    assert not fell_back and objects == (1 if MISSING in extra else 0)
    assert page.token == "x" and page.vms[1].name == "web <01>"
    assert page.vms[1].missing == (("layoutEx",) if MISSING in extra else ())
    assert [r.name for r in page.vms[1].roots] == (["a & b"] if SNAPSHOT in extra else [])


@pytest.mark.parametrize("reply", [
    DETAIL_REPLY,  # pretty-printed, layoutEx and a snapshot tree
    MISSING_REPLY,
    HEAD + vm(1) + b"<!-- </objects> -->" + vm(2) + TAIL,  # a comment could hide an end tag
    HEAD + vm(1, name=b"<![CDATA[</objects>]]>") + TAIL,
    HEAD + vm(1) + b"<?pi </objects>?>" + vm(2) + TAIL,
    HEAD.replace(b'xmlns="urn:vim25"', b'xmlns="urn:vim25" xmlns:v="urn:vim25"') + vm(1) + TAIL,
    HEAD + vm(1).replace(b"<objects>", b"<objects >") + TAIL,
    HEAD + vm(1).replace(b'type="VirtualMachine"', b'type="HostSystem"') + TAIL,
    HEAD + vm(1).replace(b"poweredOn", b"poweredOn\r") + TAIL,
    HEAD + TAIL,
    HEAD.replace(b"<returnval>", b"") + TAIL.replace(b"</returnval>", b""),
    HEAD + vm(1) + b"<token>t</token>" + TAIL.replace(b"</soapenv:Envelope>", b"</soapenv:Envelope>\n"),
])
def test_any_other_reply_reads_the_same(reply: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    for chunk in (None, 5, 333):
        both(reply, monkeypatch, chunk)


def test_a_prefixed_response_is_handed_over_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    prefixed = (HEAD.replace(b'<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>',
                             b'<v:RetrievePropertiesExResponse xmlns:v="urn:vim25"><v:returnval>')
                + vm(1).replace(b"<", b"<v:").replace(b"<v:/", b"</v:")
                + b"</v:returnval></v:RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>")
    page, fell_back, _ = both(prefixed, monkeypatch)
    assert fell_back and page.vms[0].home == "[ds1] vm1/vm1.vmx"


@pytest.mark.parametrize("cut", [len(HEAD) + 10, len(HEAD) + 2000, -20])
def test_a_truncated_reply_raises_as_elementtree_does(cut: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (HEAD + b"".join(vm(i) for i in range(5)) + TAIL)[:cut]
    with pytest.raises(ParseError):
        parse_retrieve_result(io.BytesIO(data))
    fast: Callable[[IO[bytes]], ParsedPage] = fastxml.parse_retrieve_result_fast
    with pytest.raises(ParseError):
        fast(io.BytesIO(data))


def test_layout_ex_in_the_wire_shape_is_read_without_elementtree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The detail pass's layoutEx as vCenter sends it (no whitespace between elements)."""
    compact = b"".join(line.strip() for line in DETAIL_REPLY.split(b"\n"))
    start, end = compact.index(b"<propSet><name>layoutEx"), compact.index(b"</objects>")
    data = HEAD + vm(1, extra=compact[start:end]) + TAIL
    page, fell_back, objects = both(data, monkeypatch, 50)
    assert not fell_back and not objects
    (raw,) = page.vms
    assert raw.has_layout_ex and len(raw.files) == 9 and raw.files[9].type == "snapshotMemory"
    assert [s.memory_key for s in raw.snapshot_layouts] == [-1, 9] and raw.disks[0].chain[2] == (5, 6)
