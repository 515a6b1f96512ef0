"""Mount a backup repository on an ESXi host as a read-only NFS datastore, and unmount it.

The repository is mounted ``readOnly``: the host can read the backup files as parents of linked
deltas or as the disks of an instant VM, and nothing it does can change them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from vmrestore.errors import InvalidInput, NotFound
from vmrestore.vsphere.properties import retrieve_objects
from vmrestore.vsphere.refs import ref
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.tasks import wait_for_tasks

log = logging.getLogger(__name__)

_NasSpec: Any = vim.host.NasVolume.Specification


@dataclass(frozen=True, slots=True)
class MountedNas:
    host: str
    datastore: str  # moid
    name: str


def split_export(export: str) -> tuple[str, str]:
    """``"nas01:/backups"`` → (``"nas01"``, ``"/backups"``)."""
    host, sep, path = export.partition(":")
    if not sep or not host or not path.startswith("/"):
        raise InvalidInput(f"An NFS export looks like HOST:/path, not {export!r}")
    return host, path


def find_datastore(session: VsphereSession, host_moid: str, name: str) -> str | None:
    """The moid of the datastore called ``name`` mounted on the host, if any."""
    host = ref(session, "HostSystem", host_moid)
    props = retrieve_objects(session, [host], ["datastore"])
    if not props:
        raise NotFound(f"Host {host_moid} does not exist (any more)")
    datastores = list(props[0].props.get("datastore") or [])
    if not datastores:
        return None
    for item in retrieve_objects(session, datastores, ["name"]):
        if item.props.get("name") == name:
            return item.moid
    return None


def mount_nas(session: VsphereSession, host_moid: str, export: str, name: str) -> MountedNas:
    remote_host, remote_path = split_export(export)
    host = ref(session, "HostSystem", host_moid)
    props = retrieve_objects(session, [host], ["configManager.datastoreSystem"])
    if not props:
        raise NotFound(f"Host {host_moid} does not exist (any more)")
    ds_system = props[0].props["configManager.datastoreSystem"]
    spec = _NasSpec(remoteHost=remote_host, remotePath=remote_path, localPath=name, accessMode="readOnly",
                    type="NFS")
    datastore = session.call(ds_system.CreateNasDatastore, spec, idempotent=False)
    log.info("mounted %s on %s as datastore %s", export, host_moid, name)
    return MountedNas(host=host_moid, datastore=datastore._moId, name=name)


def unmount_nas(session: VsphereSession, host_moid: str, name: str) -> bool:
    """Remove the datastore ``name`` if it is still mounted; False when it was already gone."""
    moid = find_datastore(session, host_moid, name)
    if moid is None:
        return False
    datastore = ref(session, "Datastore", moid)
    task = session.call(datastore.Destroy_Task, idempotent=False)
    wait_for_tasks(session, [task])
    log.info("unmounted datastore %s from %s", name, host_moid)
    return True
