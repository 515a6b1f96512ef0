"""Listing snapshot-like files on datastores: ``SearchDatastoreSubFolders_Task``, its result streamed.

A datastore with 10,000 VM folders answers with one ``HostDatastoreBrowserSearchResults`` per folder
(matching files or not): ~2 MB of XML that pyVmomi turns into ~10,000 objects in ~0.15 s. Here the
task is waited for by polling its small ``info.state``, and its ``info.result`` is then read with one
``RetrievePropertiesEx`` posted by us and parsed as it streams (:mod:`fastretrieve`), keeping only the
files. A failed task's ``info.error`` goes through pyVmomi and ``faults.translate`` as usual.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from xml.etree.ElementTree import iterparse

from pyVmomi import vim

from vmrestore.errors import TaskFailed, Transient, VmrestoreError
from vmrestore.vsphere.faults import translate
from vmrestore.vsphere.properties import retrieve_objects
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.snapshots.fastretrieve import continue_body, objects_body, post_parsed, stub_of
from vmrestore.vsphere.snapshots.layout import normalize_path
from vmrestore.vsphere.snapshots.raw import NS, parse_time

# What a snapshot leaves on a datastore: delta disks (VMFS/NFS/SE sparse, numbered descriptors) and
# the snapshot state (.vmsn) and memory (.vmem) files.
ORPHAN_PATTERNS = ("*-0000*.vmdk", "*-delta.vmdk", "*-sesparse.vmdk", "*.vmsn", "*.vmem")

_Browser: Any = vim.host.DatastoreBrowser
_Task: Any = vim.Task
_RESULTS, _FOLDER, _FILE = NS + "HostDatastoreBrowserSearchResults", NS + "folderPath", NS + "file"
_PATH, _SIZE, _MODIFIED = NS + "path", NS + "fileSize", NS + "modification"
_RETURNVAL, _TOKEN = NS + "returnval", NS + "token"


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: str  # normalised "[ds] folder/file"
    size: int
    modified: datetime | None


@dataclass
class _Page:
    files: list[FoundFile]
    token: str | None


def parse_search_results(stream: IO[bytes]) -> _Page:
    """Stream-parse a ``RetrievePropertiesEx`` reply carrying a search task's ``info.result``."""
    files: list[FoundFile] = []
    token: str | None = None
    for _event, elem in iterparse(stream, events=("end",)):
        tag = elem.tag
        if tag == _RESULTS:
            folder = ""
            for child in elem:
                if child.tag == _FOLDER:
                    folder = child.text or ""
                elif child.tag == _FILE:
                    name, size, modified = "", 0, None
                    for item in child:
                        if item.tag == _PATH:
                            name = item.text or ""
                        elif item.tag == _SIZE:
                            size = int(item.text or 0)
                        elif item.tag == _MODIFIED and item.text:
                            modified = parse_time(item.text)
                    if name:
                        files.append(FoundFile(normalize_path(f"{folder}/{name}"), size, modified))
            elem.clear()
        elif tag == _TOKEN and token is None:
            token = elem.text
    return _Page(files, token)


def start_search(session: VsphereSession, browser: Any, datastore: str,
                 patterns: Sequence[str] = ORPHAN_PATTERNS, *, folder: str | None = None) -> Any:
    """Start the search of one datastore (or of ``folder`` on it, ``[ds] dir``, and its subfolders) for
    snapshot-like files (or ``patterns``); returns the task."""
    spec = _Browser.SearchSpec(
        matchPattern=list(patterns),
        details=_Browser.FileInfo.Details(fileSize=True, modification=True, fileType=False),
    )
    return session.call(browser.SearchDatastoreSubFolders_Task, folder or f"[{datastore}]", spec)


def wait_search(session: VsphereSession, task: Any, *, timeout: float = 600.0) -> list[FoundFile]:
    """Wait for one search task (polling its state) and read its result, streamed."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        found = retrieve_objects(session, [task], ["info.state"])
        state = str(found[0].props.get("info.state", "")) if found else ""
        if state == "success":
            break
        if state == "error":
            found = retrieve_objects(session, [task], ["info.error"])
            error = found[0].props.get("info.error") if found else None
            if error is None:
                raise TaskFailed(f"the datastore search {task._moId} failed without saying why")
            raise translate(error, in_task=True, server=session.server) from error
        if time.monotonic() > deadline:
            raise Transient(f"the datastore search {task._moId} did not finish in {timeout:.0f} s")
        time.sleep(delay)
        delay = min(1.0, delay * 2)

    def work() -> list[FoundFile]:
        stub = stub_of(session)
        collector = session.content.propertyCollector._moId
        page = post_parsed(stub, objects_body(collector, "Task", [task._moId], ["info.result"]), parse_search_results)
        files = list(page.files)
        while page.token:
            page = post_parsed(stub, continue_body(collector, page.token), parse_search_results)
            files.extend(page.files)
        return files

    return session.call(work)


def search_files(
    session: VsphereSession, browsers: Sequence[tuple[str, Any]], patterns: Sequence[str] = ORPHAN_PATTERNS
) -> tuple[list[FoundFile], list[str]]:
    """Search every ``(datastore name, browser)``; one unreadable datastore does not hide the others."""
    found, failed = search_folders(session, [(name, browser, f"[{name}]") for name, browser in browsers], patterns)
    return found, [f"{where}: {why}" for where, why in failed]


def search_folders(
    session: VsphereSession, folders: Sequence[tuple[str, Any, str]], patterns: Sequence[str]
) -> tuple[list[FoundFile], list[tuple[str, str]]]:
    """Search each ``(datastore name, browser, "[ds] folder")`` and its subfolders for ``patterns``.

    All searches are started before the first is waited for (the hosts walk them side by side).
    Returns the files found and ``(where, why)`` for each search that failed (``where``: the
    datastore's name for a whole datastore, else the folder).
    """
    started: list[tuple[str, Any]] = []
    failed: list[tuple[str, str]] = []
    for name, browser, folder in folders:
        where = name if folder == f"[{name}]" else folder
        try:
            started.append((where, start_search(session, browser, name, patterns, folder=folder)))
        except VmrestoreError as exc:
            failed.append((where, f"cannot search the datastore: {exc}"))
    found: list[FoundFile] = []
    for where, task in started:
        try:
            found.extend(wait_search(session, task))
        except VmrestoreError as exc:
            failed.append((where, f"the datastore search failed: {exc}"))
    return found, failed
