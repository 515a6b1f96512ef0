"""The streamed reference-list parser behind the coverage rules (Datastore.vm/host, HostSystem.vm)."""

from __future__ import annotations

import io

from vmrestore.vsphere.snapshots.fastretrieve import parse_refs

REPLY = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>
<objects><obj type="Datastore">datastore-1</obj>
<propSet><name>vm</name><val xsi:type="ArrayOfManagedObjectReference">
<ManagedObjectReference type="VirtualMachine">vm-1</ManagedObjectReference>
<ManagedObjectReference type="VirtualMachine">vm-2</ManagedObjectReference></val></propSet>
<propSet><name>host</name><val xsi:type="ArrayOfDatastoreHostMount"><DatastoreHostMount>
<key type="HostSystem">host-9</key><mountInfo><path>/vmfs/volumes/x</path><accessMode>readWrite</accessMode>
</mountInfo></DatastoreHostMount></val></propSet></objects>
<objects><obj type="Datastore">datastore-2</obj>
<propSet><name>host</name><val xsi:type="ArrayOfDatastoreHostMount"></val></propSet>
<missingSet><path>vm</path><fault><fault xsi:type="NoPermission"></fault></fault></missingSet></objects>
</returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"""


def test_reference_lists_and_missing_set() -> None:
    page = parse_refs(io.BytesIO(REPLY))
    assert page.objects == {
        "datastore-1": {"vm": frozenset({"vm-1", "vm-2"}), "host": frozenset({"host-9"})},
        "datastore-2": {"host": frozenset(), "vm": None},  # unknown, never "no VMs"
    }
    assert page.token is None
