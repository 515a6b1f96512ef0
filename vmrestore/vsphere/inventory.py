"""Inventory listings: every VM, host and datastore, each listing in one PropertyCollector call.

The listings name exactly the properties they show, so a vCenter with thousands of VMs answers one
compact ``RetrievePropertiesEx`` instead of thousands of attribute reads.
"""

from __future__ import annotations

from typing import Any

from vmrestore.model import DatastoreInfo, HostInfo, VmInfo
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.session import VsphereSession

VM_PATHS = ("name", "runtime.powerState", "runtime.host", "datastore")
HOST_PATHS = (
    "name",
    "runtime.connectionState",
    "runtime.powerState",
    "runtime.inMaintenanceMode",
    "datastore",
)
DATASTORE_PATHS = (
    "name",
    "summary.capacity",
    "summary.freeSpace",
    "summary.type",
    "summary.accessible",
    "summary.url",
)


def _moid(ref: Any) -> str | None:
    return getattr(ref, "_moId", None) if ref is not None else None


def _moids(refs: Any) -> tuple[str, ...]:
    return tuple(m for m in (_moid(r) for r in refs or ()) if m)


def list_vms(session: VsphereSession) -> list[VmInfo]:
    """Every VM (templates included) sorted by name."""
    vms = [
        VmInfo(
            moid=o.moid,
            name=str(o.props.get("name", o.moid)),
            power_state=str(o.props.get("runtime.powerState", "unknown")),
            host=_moid(o.props.get("runtime.host")),
            datastores=_moids(o.props.get("datastore")),
        )
        for o in retrieve(session, "VirtualMachine", VM_PATHS)
    ]
    return sorted(vms, key=lambda vm: (vm.name.casefold(), vm.moid))


def list_hosts(session: VsphereSession) -> list[HostInfo]:
    """Every ESXi host sorted by name."""
    hosts = [
        HostInfo(
            moid=o.moid,
            name=str(o.props.get("name", o.moid)),
            connection_state=str(o.props.get("runtime.connectionState", "unknown")),
            power_state=str(o.props.get("runtime.powerState", "unknown")),
            in_maintenance=bool(o.props.get("runtime.inMaintenanceMode", False)),
            datastores=_moids(o.props.get("datastore")),
        )
        for o in retrieve(session, "HostSystem", HOST_PATHS)
    ]
    return sorted(hosts, key=lambda h: (h.name.casefold(), h.moid))


def list_datastores(session: VsphereSession) -> list[DatastoreInfo]:
    """Every datastore sorted by name; sizes in bytes."""
    stores = [
        DatastoreInfo(
            moid=o.moid,
            name=str(o.props.get("name", o.moid)),
            capacity=int(o.props.get("summary.capacity", 0) or 0),
            free_space=int(o.props.get("summary.freeSpace", 0) or 0),
            type=str(o.props.get("summary.type", "")),
            accessible=bool(o.props.get("summary.accessible", False)),
            url=str(o.props.get("summary.url", "")),
        )
        for o in retrieve(session, "Datastore", DATASTORE_PATHS)
    ]
    return sorted(stores, key=lambda d: (d.name.casefold(), d.moid))
