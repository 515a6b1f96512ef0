"""The pure parts of orphan safety: missingSet parsed, coverage verdicts, quarantine paths."""

from __future__ import annotations

import io
from datetime import date

import pytest

from vmrestore.vsphere.snapshots.coverage import (
    REASON_HOSTS,
    REASON_VMS,
    DatastoreRefs,
    datastore_verdicts,
    folder_of,
    layout_gaps,
)
from vmrestore.vsphere.snapshots.quarantine import in_quarantine, parse_quarantine_path, quarantine_path
from vmrestore.vsphere.snapshots.raw import RawVm, parse_retrieve_result

REPLY = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-7</obj>
<propSet><name>config.files.vmPathName</name><val xsi:type="xsd:string">[ds1] web/web.vmx</val></propSet>
<missingSet><path>layoutEx</path><fault><fault xsi:type="NoPermission"><privilegeId>System.Read</privilegeId>
</fault><localizedMessage>denied</localizedMessage></fault></missingSet>
</objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"""


def test_missing_set_is_kept_and_forces_the_detail_pass() -> None:
    (vm,) = parse_retrieve_result(io.BytesIO(REPLY)).vms
    assert vm.missing == ("layoutEx",) and vm.home == "[ds1] web/web.vmx" and not vm.has_layout_ex
    assert vm.needs_layout_ex()
    gaps = layout_gaps([vm], {})
    assert gaps.folders == {"[ds1] web"} and not gaps.everywhere
    blind = layout_gaps([RawVm("vm-8", name="db", missing=("config.files.vmPathName",), datastores=("ds-1",))],
                        {"ds-1": "ds1"})
    assert blind.datastores == {"ds1"} and not blind.folders
    assert layout_gaps([RawVm("vm-9", missing=("layoutEx", "datastore"))], {}).everywhere


def test_datastore_verdicts() -> None:
    ds = DatastoreRefs("ds1", "datastore-1", frozenset({"vm-1", "vm-2"}), frozenset({"host-1"}))
    hosts = {"host-1": frozenset({"vm-1", "vm-2"})}
    assert datastore_verdicts([ds], hosts, {"vm-1", "vm-2"}) == {"ds1": ""}
    assert datastore_verdicts([ds], hosts, {"vm-1"}) == {"ds1": REASON_VMS}
    assert datastore_verdicts([ds], {}, {"vm-1", "vm-2"}) == {"ds1": REASON_HOSTS}
    busy = {"host-1": frozenset({"vm-1", "vm-2", "vm-3"})}  # a VM on a mounting host we did not read
    assert datastore_verdicts([ds], busy, {"vm-1", "vm-2"}) == {"ds1": REASON_VMS}


def test_quarantine_paths_round_trip() -> None:
    q = quarantine_path("[ds1]  gone//gone-000001.vmdk", date(2026, 12, 2))
    assert q == "[ds1] .vmrestore-quarantine/2026-12-02/gone/gone-000001.vmdk" and in_quarantine(q)
    assert parse_quarantine_path(q) == ("[ds1] gone/gone-000001.vmdk", date(2026, 12, 2))
    assert parse_quarantine_path("[ds1] .vmrestore-quarantine/notadate/x.vmdk") is None
    assert not in_quarantine("[ds1] gone/gone-000001.vmdk")
    with pytest.raises(ValueError):
        quarantine_path(q, date(2026, 12, 3))
    assert folder_of("[ds1] a/b/c.vmdk") == "[ds1] a/b" and folder_of("[ds1] c.vmsn") == "[ds1] "
