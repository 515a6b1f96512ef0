"""The VM records a scan reads, as plain values, and the streaming parser that builds them from XML.

Why our own parser: pyVmomi deserialises a 20 MB ``RetrievePropertiesEx`` reply (10,000 VMs with their
``layoutEx``) in about 4 s, building a Python object for every XML element; fetching it takes ~0.4 s and
``xml.etree.ElementTree.iterparse`` walks it in about as long. The parser keeps only what the snapshot
monitor needs and frees each ``objects`` element as soon as it is read, so memory stays flat.

The XML is the vim25 wire format (``urn:vim25``), which is a stable, versioned contract; anything we do
not recognise is skipped, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any
from xml.etree.ElementTree import Element, iterparse

NS = "{urn:vim25}"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

# Tags, precomputed: the parser compares them once per element.
_OBJECTS = NS + "objects"
_RETURNVAL = NS + "returnval"
_TOKEN = NS + "token"
_OBJ = NS + "obj"
_PROPSET = NS + "propSet"
_NAME = NS + "name"
_VAL = NS + "val"
_MISSING = NS + "missingSet"
_PATH = NS + "path"


@dataclass(frozen=True, slots=True)
class RawFile:
    key: int
    name: str
    type: str
    size: int


@dataclass(frozen=True, slots=True)
class RawDisk:
    key: int
    chain: tuple[tuple[int, ...], ...]  # disk units, each the file keys of one descriptor + extent(s)


@dataclass(frozen=True, slots=True)
class RawSnapshotLayout:
    snapshot: str
    data_key: int
    memory_key: int
    disks: tuple[RawDisk, ...]


@dataclass(frozen=True, slots=True)
class RawTreeNode:
    moref: str
    name: str
    description: str
    created: datetime
    quiesced: bool
    state: str
    children: tuple[RawTreeNode, ...] = ()


@dataclass(slots=True)
class RawVm:
    moref: str
    name: str = ""
    power_state: str = "unknown"
    host: str | None = None
    datastores: tuple[str, ...] = ()
    consolidation_needed: bool = False
    current_snapshot: str | None = None
    roots: tuple[RawTreeNode, ...] = ()
    files: dict[int, RawFile] = field(default_factory=dict)
    disks: tuple[RawDisk, ...] = ()
    snapshot_layouts: tuple[RawSnapshotLayout, ...] = ()
    recent_tasks: tuple[str, ...] = ()
    home: str = ""  # config.files.vmPathName: "[ds] folder/name.vmx"
    disk_files: tuple[tuple[str, ...], ...] = ()  # layout.disk[].diskFile: each disk's chain descriptors
    has_layout_ex: bool = False
    # Property paths the server answered in ``missingSet`` instead of ``propSet`` (it could not read
    # them: no permission, a host not responding...). Such a VM's layout is unknown, not empty.
    missing: tuple[str, ...] = ()

    def needs_layout_ex(self) -> bool:
        """Snapshots, a disk running on a delta, a consolidation to do, a suspended VM, or a property
        that could not be read (its snapshots may be hidden too): read the full layout."""
        return (
            bool(self.missing)
            or bool(self.roots)
            or self.consolidation_needed
            or self.power_state == "suspended"  # its .vmss/.vmem are in layoutEx only
            or any(len(c) > 1 for c in self.disk_files)
        )


def parse_time(text: str) -> datetime:
    """An ``xsd:dateTime`` (``2026-11-26T06:17:12.29584833Z``) as an aware UTC datetime.

    ``fromisoformat`` takes at most 6 fractional digits on some Pythons; Go and vCenter send up to 9.
    """
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dot = text.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        text = text[: dot + 1] + text[dot + 1 : end][:6].ljust(6, "0") + text[end:]
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _text(elem: Element | None, default: str = "") -> str:
    if elem is None or elem.text is None:
        return default
    return elem.text


def _int(elem: Element | None, default: int = 0) -> int:
    text = _text(elem).strip()
    return int(text) if text else default


def _bool(elem: Element | None) -> bool:
    return _text(elem).strip() == "true"


def _tree(node: Element) -> RawTreeNode:
    created = node.find(NS + "createTime")
    return RawTreeNode(
        moref=_text(node.find(NS + "snapshot")),
        name=_text(node.find(NS + "name")),
        description=_text(node.find(NS + "description")),
        created=parse_time(_text(created)) if created is not None else datetime.fromtimestamp(0, UTC),
        quiesced=_bool(node.find(NS + "quiesced")),
        state=_text(node.find(NS + "state"), "unknown"),
        children=tuple(_tree(child) for child in node.iterfind(NS + "childSnapshotList")),
    )


_KEY, _FNAME, _TYPE, _SIZE = NS + "key", NS + "name", NS + "type", NS + "size"
_CHAIN, _FILEKEY, _FILE, _DISK, _SNAPSHOT = NS + "chain", NS + "fileKey", NS + "file", NS + "disk", NS + "snapshot"
_DATAKEY, _MEMORYKEY, _DISKFILE = NS + "dataKey", NS + "memoryKey", NS + "diskFile"


def _disk(elem: Element) -> RawDisk:
    key = 0
    chain: list[tuple[int, ...]] = []
    for child in elem:
        if child.tag == _CHAIN:
            chain.append(tuple(int(k.text or 0) for k in child if k.tag == _FILEKEY))
        elif child.tag == _KEY:
            key = int(child.text or 0)
    return RawDisk(key=key, chain=tuple(chain))


def _file(elem: Element) -> RawFile:
    key, name, ftype, size = 0, "", "", 0
    for child in elem:
        tag = child.tag
        if tag == _KEY:
            key = int(child.text or 0)
        elif tag == _FNAME:
            name = child.text or ""
        elif tag == _TYPE:
            ftype = child.text or ""
        elif tag == _SIZE:
            size = int(child.text or 0)
    return RawFile(key, name, ftype, size)


def _snapshot_layout(elem: Element) -> RawSnapshotLayout:
    moref, data_key, memory_key = "", -1, -1
    disks: list[RawDisk] = []
    for child in elem:
        tag = child.tag
        if tag == _KEY:
            moref = child.text or ""
        elif tag == _DATAKEY:
            data_key = int(child.text or -1)
        elif tag == _MEMORYKEY:
            memory_key = int(child.text or -1)
        elif tag == _DISK:
            disks.append(_disk(child))
    return RawSnapshotLayout(moref, data_key, memory_key, tuple(disks))


def _layout(vm: RawVm, val: Element) -> None:
    files: dict[int, RawFile] = {}
    disks: list[RawDisk] = []
    snaps: list[RawSnapshotLayout] = []
    for child in val:
        tag = child.tag
        if tag == _FILE:
            f = _file(child)
            files[f.key] = f
        elif tag == _DISK:
            disks.append(_disk(child))
        elif tag == _SNAPSHOT:
            snaps.append(_snapshot_layout(child))
    vm.files, vm.disks, vm.snapshot_layouts = files, tuple(disks), tuple(snaps)
    vm.has_layout_ex = True


def apply_property(vm: RawVm, name: str, val: Element) -> None:
    """Set the field of ``vm`` that property ``name`` (its ``<val>`` element) fills; unknown names are ignored."""
    if name == "name":
        vm.name = _text(val)
    elif name == "snapshot":
        vm.current_snapshot = _text(val.find(NS + "currentSnapshot")) or None
        vm.roots = tuple(_tree(root) for root in val.iterfind(NS + "rootSnapshotList"))
    elif name == "layoutEx":
        _layout(vm, val)
    elif name == "runtime.powerState":
        vm.power_state = _text(val, "unknown")
    elif name == "runtime.host":
        vm.host = _text(val) or None
    elif name == "runtime.consolidationNeeded":
        vm.consolidation_needed = _bool(val)
    elif name == "datastore":
        vm.datastores = tuple(_text(ref) for ref in val)
    elif name == "layout.disk":
        vm.disk_files = tuple(tuple(f.text or "" for f in d if f.tag == _DISKFILE) for d in val)
    elif name == "config.files.vmPathName":
        vm.home = _text(val)
    elif name == "recentTask":
        vm.recent_tasks = tuple(_text(ref) for ref in val)


def vm_from_element(objects: Element) -> RawVm:
    """One ``ObjectContent`` element (``<objects>``) as a :class:`RawVm`."""
    vm = RawVm(moref=_text(objects.find(_OBJ)))
    for prop in objects.iterfind(_PROPSET):
        val = prop.find(_VAL)
        if val is not None:
            apply_property(vm, _text(prop.find(_NAME)), val)
    # Dropping these would turn "could not read this VM's layout" into "this VM references nothing".
    vm.missing = tuple(_text(m.find(_PATH)) for m in objects.iterfind(_MISSING))
    return vm


@dataclass
class ParsedPage:
    vms: list[RawVm]
    token: str | None


def parse_retrieve_result(stream: IO[bytes]) -> ParsedPage:
    """Stream-parse a ``RetrievePropertiesEx``/``ContinueRetrievePropertiesEx`` response body."""
    vms: list[RawVm] = []
    token: str | None = None
    parent: Element | None = None
    for event, elem in iterparse(stream, events=("start", "end")):
        if event == "start":
            if elem.tag == _RETURNVAL:
                parent = elem
            continue
        if elem.tag == _OBJECTS:
            vms.append(vm_from_element(elem))
            elem.clear()
            if parent is not None:
                parent.remove(elem)  # the element just read is the only child left: O(1)
        elif elem.tag == _TOKEN and parent is not None:
            token = elem.text
    return ParsedPage(vms, token)


def iter_trees(roots: Iterable[RawTreeNode]) -> Iterator[tuple[RawTreeNode, RawTreeNode | None, int]]:
    """Pre-order walk: ``(node, parent, depth)``."""
    stack: list[tuple[RawTreeNode, RawTreeNode | None, int]] = [(r, None, 0) for r in reversed(tuple(roots))]
    while stack:
        node, parent, depth = stack.pop()
        yield node, parent, depth
        stack.extend((child, node, depth + 1) for child in reversed(node.children))


def type_of(elem: Element) -> str | None:
    """The ``xsi:type`` of an element, without prefix (for diagnostics)."""
    value: Any = elem.get(_XSI_TYPE)
    return str(value).rsplit(":", 1)[-1] if value else None
