"""VMDK descriptors: disk format, capacity and the snapshot (delta) chain, read without dissect.

Discovery must list hundreds of restore points quickly and must not depend on the disk reader, so the
catalog reads descriptors itself. A descriptor is either a small text file next to its extents
(monolithicFlat, twoGbMaxExtent*, ESXi's ``vmfs``/``vmfsSparse``/``seSparse``) or is embedded in a
hosted sparse extent (monolithicSparse, streamOptimized): the ``KDMV`` header at offset 0 gives its
offset and size in 512-byte sectors.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from vmrestore.errors import BrokenChain, CorruptImage

SECTOR = 512
NO_PARENT = "ffffffff"
_SPARSE_MAGIC = b"KDMV"
# magic, version, flags, capacity, grainSize, descriptorOffset, descriptorSize (VMware's SparseExtentHeader).
_SPARSE_HEADER = struct.Struct("<4sIIQQQQ")
# Text descriptors are tiny; anything bigger is a flat extent someone pointed us at by mistake.
MAX_DESCRIPTOR_BYTES = 1024 * 1024
_EXTENT = re.compile(r'^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$')


@dataclass(frozen=True, slots=True)
class Extent:
    access: str  # RW, RDONLY, NOACCESS
    sectors: int
    type: str  # FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, SESPARSE, VMFSRDM, VMFSRAW
    file: str | None  # None for ZERO extents
    offset: int = 0  # in sectors, for FLAT extents


@dataclass(frozen=True, slots=True)
class Descriptor:
    path: str  # the file the descriptor was read from
    create_type: str
    cid: str
    parent_cid: str
    parent_file_name_hint: str | None
    extents: tuple[Extent, ...]
    ddb: dict[str, str] = field(default_factory=dict)
    embedded: bool = False  # read from inside a sparse extent

    @property
    def capacity(self) -> int:
        """Virtual size in bytes: the extents together cover the whole disk."""
        return sum(e.sectors for e in self.extents) * SECTOR

    @property
    def adapter_type(self) -> str | None:
        return self.ddb.get("ddb.adaptertype")

    @property
    def geometry(self) -> tuple[int, int, int] | None:
        """(cylinders, heads, sectors) from the disk database, when all three are present and numeric."""
        try:
            return (
                int(self.ddb["ddb.geometry.cylinders"]),
                int(self.ddb["ddb.geometry.heads"]),
                int(self.ddb["ddb.geometry.sectors"]),
            )
        except (KeyError, ValueError):
            return None

    @property
    def is_delta(self) -> bool:
        return self.parent_cid.lower() != NO_PARENT

    def extent_paths(self) -> list[Path]:
        """Extent files, resolved next to the descriptor (VMware always writes them relative).

        An embedded descriptor (monolithicSparse, streamOptimized) describes its own file: its one
        extent *is* that file, whatever name the extent line kept from before a rename or copy.
        """
        if self.embedded and len(self.extents) == 1:
            return [Path(self.path)]
        base = Path(self.path).parent
        return [base / e.file for e in self.extents if e.file]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _norm_cid(value: str) -> str:
    """CIDs are 32-bit hex numbers; qemu-img writes them without zero padding, VMware with it."""
    try:
        return f"{int(value, 16):08x}"
    except ValueError:
        return value.lower()


def parse_descriptor_text(text: str, path: str = "", embedded: bool = False) -> Descriptor:
    """Parse descriptor text. Raises CorruptImage when it is not a descriptor at all."""
    header: dict[str, str] = {}
    ddb: dict[str, str] = {}
    extents: list[Extent] = []
    for line in text.replace("\x00", "").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _EXTENT.match(stripped)
        if m:
            extents.append(
                Extent(
                    access=m.group(1),
                    sectors=int(m.group(2)),
                    type=m.group(3).upper(),
                    file=m.group(4),
                    offset=int(m.group(5) or 0),
                )
            )
            continue
        if "=" in stripped:
            key, _, value = stripped.partition("=")
            key = key.strip().lower()
            (ddb if key.startswith("ddb.") else header)[key] = _unquote(value)
    if "createtype" not in header or not extents:
        raise CorruptImage(f"{path or 'descriptor'}: not a VMDK descriptor (no createType or no extents)")
    return Descriptor(
        path=path,
        create_type=header["createtype"],
        cid=_norm_cid(header.get("cid", "")),
        parent_cid=_norm_cid(header.get("parentcid", NO_PARENT)),
        parent_file_name_hint=header.get("parentfilenamehint"),
        extents=tuple(extents),
        ddb=ddb,
        embedded=embedded,
    )


def read_descriptor(path: str | Path) -> Descriptor:
    """Read the descriptor of a VMDK, embedded or separate. Raises OSError or CorruptImage."""
    p = Path(path)
    with p.open("rb") as f:
        head = f.read(_SPARSE_HEADER.size)
        if head[:4] == _SPARSE_MAGIC and len(head) == _SPARSE_HEADER.size:
            _magic, _ver, _flags, _cap, _grain, desc_offset, desc_size = _SPARSE_HEADER.unpack(head)
            if desc_offset == 0 or desc_size == 0:
                # An extent of a twoGbMaxExtentSparse disk: its descriptor is the separate text file.
                raise CorruptImage(f"{p.name}: sparse extent without an embedded descriptor")
            if desc_size * SECTOR > MAX_DESCRIPTOR_BYTES:
                raise CorruptImage(f"{p.name}: embedded descriptor size {desc_size} sectors is implausible")
            if (desc_offset + desc_size) * SECTOR > os.fstat(f.fileno()).st_size:
                raise CorruptImage(f"{p.name}: the embedded descriptor (sector {desc_offset}) lies past the end "
                                   "of the file (damaged header?)")
            f.seek(desc_offset * SECTOR)
            raw = f.read(desc_size * SECTOR)
            return parse_descriptor_text(raw.decode("utf-8", "replace"), str(p), embedded=True)
        if os.fstat(f.fileno()).st_size > MAX_DESCRIPTOR_BYTES:
            raise CorruptImage(f"{p.name}: too big for a text descriptor (is it a flat extent?)")
        f.seek(0)
        raw = f.read()
    return parse_descriptor_text(raw.decode("utf-8", "replace"), str(p))


def _parent_path(child: Descriptor) -> Path:
    hint = child.parent_file_name_hint or ""
    base = Path(child.path).parent
    # ESXi often writes an absolute /vmfs/volumes/<ds>/<vm>/x.vmdk hint; in a backup copy the parent
    # sits next to the child, so try the hint as given, then its basename beside the child.
    candidates = [base / hint] if not hint.startswith("/") else []
    candidates.append(base / hint.replace("\\", "/").rsplit("/", 1)[-1])
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise BrokenChain(f"{Path(child.path).name}: parent disk {hint!r} not found next to it")


def chain(path: str | Path, max_depth: int = 255) -> list[Descriptor]:
    """The snapshot chain of a disk: ``path``'s descriptor first, the base disk last.

    Raises BrokenChain when a parent is missing, its CID differs from the child's parentCID (the parent
    was changed after the snapshot, so the child's data would be read over the wrong base), or the
    chain loops.
    """
    current = read_descriptor(path)
    result = [current]
    seen = {Path(current.path).resolve()}
    while current.is_delta:
        if not current.parent_file_name_hint:
            raise BrokenChain(f"{Path(current.path).name}: delta disk without parentFileNameHint")
        parent_path = _parent_path(current)
        if parent_path.resolve() in seen or len(result) > max_depth:
            raise BrokenChain(f"{Path(current.path).name}: snapshot chain loops back to {parent_path.name}")
        try:
            parent = read_descriptor(parent_path)
        except OSError as exc:
            raise BrokenChain(f"{parent_path.name}: cannot read parent disk: {exc.strerror or exc}") from exc
        if parent.cid != current.parent_cid:
            raise BrokenChain(
                f"{Path(current.path).name}: parentCID {current.parent_cid} does not match "
                f"CID {parent.cid} of {parent_path.name} (the parent changed after the snapshot)"
            )
        seen.add(parent_path.resolve())
        result.append(parent)
        current = parent
    return result
