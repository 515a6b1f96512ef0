"""The orphan quarantine on a datastore: ``[ds] .vmrestore-quarantine/<YYYY-MM-DD>/<original path>``.

Orphaned files are moved here (``FileManager.MoveDatastoreFile_Task``, on the same datastore: a rename,
no copy) instead of being deleted, so a wrong call can be put back; only ``purge`` deletes. The date is
the day of the move (UTC) and the rest of the path is the file's original path, so the quarantine path
alone says where a file came from and when it went. The folder is never a candidate for orphans.

Every call blocks (run it in an executor) and raises vmrestore errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pyVmomi import vim

from vmrestore.errors import NotFound, VmrestoreError
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.snapshots.layout import datastore_of, normalize_path
from vmrestore.vsphere.snapshots.ops import datacenter_of, delete_datastore_file
from vmrestore.vsphere.tasks import wait_for_tasks

QUARANTINE_DIR = ".vmrestore-quarantine"
_QPATH = re.compile(r"^\[(?P<ds>[^\]]*)\] " + re.escape(QUARANTINE_DIR) + r"/(?P<day>\d{4}-\d{2}-\d{2})/(?P<rest>.+)$")
_Browser: Any = vim.host.DatastoreBrowser


def in_quarantine(path: str) -> bool:
    """``[ds] .vmrestore-quarantine/...`` (normalised paths)."""
    ds = datastore_of(path)
    return path.startswith(f"[{ds}] {QUARANTINE_DIR}/") or path == f"[{ds}] {QUARANTINE_DIR}"


def quarantine_path(path: str, day: date) -> str:
    """``[ds] a/b.vmdk`` moved on ``day`` → ``[ds] .vmrestore-quarantine/<day>/a/b.vmdk``."""
    path = normalize_path(path)
    ds = datastore_of(path)
    rest = path[len(ds) + 3:]
    if not rest or in_quarantine(path):
        raise ValueError(f"{path} cannot be quarantined")
    return f"[{ds}] {QUARANTINE_DIR}/{day.isoformat()}/{rest}"


def parse_quarantine_path(path: str) -> tuple[str, date] | None:
    """A quarantine path → ``(original path, day moved)``; anything else → None."""
    m = _QPATH.match(normalize_path(path))
    if m is None:
        return None
    try:
        day = date.fromisoformat(m["day"])
    except ValueError:
        return None
    return f"[{m['ds']}] {m['rest']}", day


@dataclass(frozen=True, slots=True)
class QuarantinedFile:
    path: str  # where it is now, in the quarantine
    original: str  # where it came from (and goes back to on restore)
    day: date  # when it was moved there
    size: int
    modified: datetime | None


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else path


def move_file(session: VsphereSession, source: str, destination: str) -> None:
    """Move one file on a datastore, creating the destination folder; never overwrites (``force=False``)."""
    datacenter = datacenter_of(session, datastore_of(source))
    manager = session.content.fileManager
    try:
        session.call(manager.MakeDirectory, _folder(destination), datacenter, True)
    except VmrestoreError as exc:
        if not isinstance(exc.__cause__, vim.fault.FileAlreadyExists):
            raise
    task = session.call(manager.MoveDatastoreFile_Task, source, datacenter, destination, datacenter, False,
                        idempotent=False)
    wait_for_tasks(session, [task])


def file_exists(session: VsphereSession, path: str) -> bool:
    """Whether ``[ds] folder/name`` exists (the datastore browser; a missing folder means no)."""
    path = normalize_path(path)
    browser = _browser_of(session, datastore_of(path))
    folder, name = (path.rsplit("/", 1) if "/" in path else (f"[{datastore_of(path)}]", path.split("] ", 1)[1]))
    spec = _Browser.SearchSpec(matchPattern=[name], details=_Browser.FileInfo.Details(fileType=True))
    try:
        task = session.call(browser.SearchDatastore_Task, folder, spec)
        (result,) = wait_for_tasks(session, [task])
    except NotFound:
        return False
    return any(f.path == name for f in getattr(result, "file", None) or ()
               if not isinstance(f, _Browser.FolderInfo))


def list_quarantine(session: VsphereSession, datastore: str) -> list[QuarantinedFile]:
    """Every file in the datastore's quarantine (an absent quarantine is empty)."""
    browser = _browser_of(session, datastore)
    spec = _Browser.SearchSpec(
        matchPattern=["*"],
        details=_Browser.FileInfo.Details(fileSize=True, modification=True, fileType=True),
    )
    try:
        task = session.call(browser.SearchDatastoreSubFolders_Task, f"[{datastore}] {QUARANTINE_DIR}", spec)
        (results,) = wait_for_tasks(session, [task])
    except NotFound:
        return []
    out: list[QuarantinedFile] = []
    for res in results or ():
        for f in res.file or ():
            if isinstance(f, _Browser.FolderInfo):
                continue
            path = normalize_path(f"{res.folderPath}/{f.path}")
            parsed = parse_quarantine_path(path)
            if parsed is None:
                continue  # not put there by us (no date folder): never touched
            modified = f.modification
            out.append(QuarantinedFile(path, parsed[0], parsed[1], int(f.fileSize or 0), modified))
    return sorted(out, key=lambda q: q.path)


def delete_file(session: VsphereSession, path: str) -> None:
    """Delete one quarantined file for good (refuses anything outside the quarantine)."""
    if parse_quarantine_path(path) is None:
        raise ValueError(f"{path} is not in the quarantine")
    delete_datastore_file(session, path)


def accessible_datastores(session: VsphereSession, names: Sequence[str] | None = None) -> list[str]:
    """Names of the accessible datastores (only those in ``names`` when given), sorted."""
    return sorted(str(o.props["name"]) for o in retrieve(session, "Datastore", ["name", "summary.accessible"])
                  if o.props.get("summary.accessible", True) and (names is None or o.props.get("name") in names))


def _browser_of(session: VsphereSession, datastore: str) -> Any:
    for o in retrieve(session, "Datastore", ["name", "browser"]):
        if o.props.get("name") == datastore:
            return o.props["browser"]
    raise NotFound(f"datastore {datastore} not found")


def undo_move(session: VsphereSession, undo: Mapping[str, Any]) -> None:
    """Sweep handler for a move a dead process journaled (``undo = {"from", "to"}``): reverse it.

    Moved (``to`` exists, ``from`` does not): move it back. Not moved (``from`` exists, ``to`` does not)
    or neither exists: nothing to undo. Both exist: refuse (raise) and leave the entry for an admin,
    because one of them is not ours to overwrite.
    """
    source, destination = str(undo["from"]), str(undo["to"])
    at_destination = file_exists(session, destination)
    at_source = file_exists(session, source)
    if at_destination and at_source:
        raise VmrestoreError(f"both {source} and {destination} exist; left for an administrator")
    if at_destination:
        move_file(session, destination, source)
