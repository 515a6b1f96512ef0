"""Where a new VM can go on one host: its pool, folder, datastores (with mount mode), port groups and
the hardware versions it runs.

Instant recovery creates a VM on a chosen host; everything it needs to decide and to check before the
first change is read here, each object in one PropertyCollector call naming its properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vmrestore.errors import InvalidInput, NotFound
from vmrestore.vsphere.properties import retrieve, retrieve_objects
from vmrestore.vsphere.refs import ref
from vmrestore.vsphere.session import VsphereSession


@dataclass(frozen=True, slots=True)
class DatastoreMount:
    """A datastore as one host sees it."""

    moid: str
    name: str
    capacity: int
    free_space: int
    type: str  # VMFS, NFS, NFS41, vsan, OTHER...
    accessible: bool
    access_mode: str  # "readWrite", "readOnly", or "" when the server does not say
    remote: str = ""  # "host:/path" for an NFS datastore

    @property
    def writable(self) -> bool:
        return self.accessible and self.access_mode == "readWrite"


@dataclass(frozen=True, slots=True)
class HostPlacement:
    host: str  # moid
    host_name: str
    connected: bool
    compute: str  # the host's ComputeResource / cluster moid
    pool: str  # its root resource pool
    datacenter: str
    vm_folder: str
    datastores: tuple[DatastoreMount, ...]
    networks: tuple[str, ...]  # standard port group names the host sees
    hw_versions: tuple[int, ...]  # virtual hardware versions the host can run and create

    def datastore(self, name: str) -> DatastoreMount:
        for ds in self.datastores:
            if ds.name == name or ds.moid == name:
                return ds
        raise NotFound(f"Datastore {name!r} is not mounted on host {self.host_name}")

    def mounted_export(self, export: str) -> DatastoreMount | None:
        """The datastore that mounts exactly this NFS export (``host:/path``) on the host, if any."""
        for ds in self.datastores:
            if ds.remote and ds.remote == export:
                return ds
        return None


def _moid(obj: Any) -> str:
    return str(getattr(obj, "_moId", ""))


def resolve_host(session: VsphereSession, name_or_moid: str) -> str:
    """A host's moid from its name (or moid)."""
    hosts = retrieve(session, "HostSystem", ["name"])
    for h in hosts:
        if name_or_moid in (h.moid, h.props.get("name")):
            return h.moid
    names = ", ".join(sorted(str(h.props.get("name")) for h in hosts))
    raise NotFound(f"No ESXi host named {name_or_moid!r} (hosts: {names})")


def _datacenter_of(session: VsphereSession, obj: Any) -> Any:
    for _ in range(32):
        props = retrieve_objects(session, [obj], ["parent"])
        parent = props[0].props.get("parent") if props else None
        if parent is None:
            raise NotFound("The host is not inside a datacenter")
        if parent._wsdlName == "Datacenter":
            return parent
        obj = parent
    raise NotFound("The host's parent chain is too deep")


def _max_versions(session: VsphereSession, browser: Any, host_moid: str) -> tuple[int, ...]:
    if browser is None:
        return ()
    descriptors = session.call(browser.QueryConfigOptionDescriptor)
    versions = []
    for d in descriptors or ():
        key = str(getattr(d, "key", ""))
        hosts = [_moid(h) for h in getattr(d, "host", None) or ()]
        if not key.startswith("vmx-") or (hosts and host_moid not in hosts):
            continue
        if getattr(d, "runSupported", True) is False or getattr(d, "createSupported", True) is False:
            continue
        try:
            versions.append(int(key[4:]))
        except ValueError:
            continue
    return tuple(sorted(set(versions)))


def _mounts(session: VsphereSession, refs: list[Any], host_moid: str) -> tuple[DatastoreMount, ...]:
    paths = ["name", "summary.capacity", "summary.freeSpace", "summary.type", "summary.accessible", "host", "info"]
    out = []
    for item in retrieve_objects(session, refs, paths):
        p = item.props
        modes = {_moid(m.key): str(m.mountInfo.accessMode or "") for m in p.get("host") or ()
                 if m.mountInfo is not None}
        # This host's mount; when it is not listed (the simulator lists a datastore shared by several
        # hosts under one of them only), the mode the datastore is mounted with elsewhere.
        mode = modes.get(host_moid) or (next(iter(set(modes.values()))) if len(set(modes.values())) == 1 else "")
        nas = getattr(p.get("info"), "nas", None)
        remote = f"{nas.remoteHost}:{nas.remotePath}" if nas is not None and nas.remoteHost else ""
        out.append(DatastoreMount(
            moid=item.moid, name=str(p.get("name", item.moid)), capacity=int(p.get("summary.capacity") or 0),
            free_space=int(p.get("summary.freeSpace") or 0), type=str(p.get("summary.type") or ""),
            accessible=bool(p.get("summary.accessible")), access_mode=mode, remote=remote))
    return tuple(sorted(out, key=lambda d: d.name))


def host_placement(session: VsphereSession, host_moid: str) -> HostPlacement:
    host = ref(session, "HostSystem", host_moid)
    props = retrieve_objects(session, [host], ["name", "parent", "datastore", "network", "runtime.connectionState"])
    if not props:
        raise NotFound(f"Host {host_moid} does not exist (any more)")
    hp = props[0].props
    compute = hp["parent"]
    cprops = retrieve_objects(session, [compute], ["resourcePool", "environmentBrowser"])[0].props
    datacenter = _datacenter_of(session, compute)
    dprops = retrieve_objects(session, [datacenter], ["vmFolder"])[0].props
    # Standard port groups only: a distributed port group needs a DVS port backing, which instant
    # recovery does not build yet (a NetworkBackingInfo naming it would fail on vSphere).
    standard = [n for n in hp.get("network") or () if n._wsdlName == "Network"]
    networks = [str(n.props.get("name")) for n in retrieve_objects(session, standard, ["name"])]
    return HostPlacement(
        host=host_moid, host_name=str(hp.get("name")), connected=hp.get("runtime.connectionState") == "connected",
        compute=_moid(compute), pool=_moid(cprops["resourcePool"]), datacenter=_moid(datacenter),
        vm_folder=_moid(dprops["vmFolder"]),
        datastores=_mounts(session, list(hp.get("datastore") or ()), host_moid),
        networks=tuple(sorted(set(networks))),
        hw_versions=_max_versions(session, cprops.get("environmentBrowser"), host_moid),
    )


def find_pool(session: VsphereSession, placement: HostPlacement, name: str) -> str:
    """The resource pool called ``name`` (or with that moid) under the host's compute resource."""
    compute = ref(session, "ComputeResource", placement.compute)
    matches = [p.moid for p in retrieve(session, "ResourcePool", ["name"], root=compute)
               if name in (p.moid, p.props.get("name"))]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"No resource pool {name!r} on {placement.host_name}'s cluster or host")
    raise InvalidInput(f"{len(matches)} resource pools are called {name!r}; give its id ({', '.join(matches)})")


def find_folder(session: VsphereSession, placement: HostPlacement, name: str) -> str:
    """The VM folder called ``name`` (or with that moid) in the host's datacenter."""
    datacenter = ref(session, "Datacenter", placement.datacenter)
    matches = [f.moid for f in retrieve(session, "Folder", ["name", "childType"], root=datacenter)
               if name in (f.moid, f.props.get("name")) and "VirtualMachine" in (f.props.get("childType") or ())]
    if placement.vm_folder == name:
        return name
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"No VM folder {name!r} in the datacenter of {placement.host_name}")
    raise InvalidInput(f"{len(matches)} VM folders are called {name!r}; give its id ({', '.join(matches)})")


def vm_named(session: VsphereSession, name: str) -> str | None:
    """The moid of a VM called ``name`` anywhere in the inventory, if one exists."""
    for vm in retrieve(session, "VirtualMachine", ["name"]):
        if vm.props.get("name") == name:
            return vm.moid
    return None
