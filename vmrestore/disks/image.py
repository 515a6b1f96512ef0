"""Open a VMDK (any ghettoVCB/qemu subformat) as one read-only, seekable byte stream.

Backups are evidence: this module only ever opens files with ``"rb"``. The descriptor is checked before
dissect sees it, so a missing or misnamed extent, an extent that points outside the restore-point folder,
or a grain directory that points past the end of the file is reported as :class:`CorruptImage` naming the
file, instead of surfacing later as an ``EOFError`` deep inside a file-system parser.
"""

from __future__ import annotations

import array
import io
import os
import re
import struct
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, cast

from dissect.hypervisor.disk.vmdk import VMDK

from vmrestore.disks._streams import guard
from vmrestore.disks.extents import Extent, extent_reader
from vmrestore.errors import CorruptImage, NotFound

SECTOR = 512
_SPARSE_MAGIC = b"KDMV"
_DESCRIPTOR_MAGIC = b"# Disk DescriptorFile"
_EXTENT_RE = re.compile(r'^\s*(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(?:\s+"([^"]*)")?', re.MULTILINE)
_CREATE_TYPE_RE = re.compile(r'^\s*createType\s*=\s*"([^"]*)"', re.MULTILINE)
_MAX_DESCRIPTOR = 64 * 1024
_FLAG_COMPRESSED = 0x10000


# VMware's SparseExtentHeader: magic, version, flags, capacity, grainSize, descriptorOffset, descriptorSize,
# numGTEsPerGT, rgdOffset, gdOffset, overHead (sizes in sectors), then flags bytes and compressAlgorithm.
_HEADER = struct.Struct("<4sIIQQQQIQQQ")
_GD_AT_END = 0xFFFFFFFFFFFFFFFF
_MAX_CAPACITY_SECTORS = 64 * 1024**4 // SECTOR  # 64 TiB: above VMFS's 62 TB maximum disk size


def check_sparse_header(fh: BinaryIO, name: str) -> None:
    """Refuse a sparse extent header whose fields cannot be right, before dissect trusts them.

    dissect sizes its grain directory from the header's capacity and grain sizes and reads it at the
    header's offset: a few flipped bytes there become an unbounded allocation or an ``EOFError`` deep
    inside it. Every field is checked against the file: the grain directory (and its copy) must lie
    inside the file, so what it costs to read is bounded by the file's own size.
    """
    fh.seek(0, os.SEEK_END)
    filesize = fh.tell()
    fh.seek(0)
    raw = fh.read(_HEADER.size)
    if len(raw) < _HEADER.size:
        raise CorruptImage(f"{name}: the sparse extent header is truncated")
    (magic, version, flags, capacity, grain, desc_offset, desc_size, gtes, rgd, gd, overhead) = _HEADER.unpack(raw)
    if gd == _GD_AT_END and flags & _FLAG_COMPRESSED and filesize >= 3 * SECTOR:
        fh.seek(filesize - 2 * SECTOR)  # streamOptimized: the real header is the footer before the end marker
        footer = fh.read(_HEADER.size)
        if len(footer) == _HEADER.size and footer[:4] == _SPARSE_MAGIC:
            (magic, version, flags, capacity, grain, desc_offset, desc_size, gtes, rgd, gd,
             overhead) = _HEADER.unpack(footer)
    fh.seek(0)

    def bad(what: str) -> CorruptImage:
        return CorruptImage(f"{name}: the sparse extent header is damaged: {what}")

    if magic != _SPARSE_MAGIC:
        raise bad("no KDMV signature")
    if version not in (1, 2, 3):
        raise bad(f"unknown version {version}")
    if not 0 < capacity <= _MAX_CAPACITY_SECTORS:
        raise bad(f"implausible capacity of {capacity} sectors")
    if grain < 1 or grain > 2048 or grain & (grain - 1):
        raise bad(f"grain size of {grain} sectors is not a power of two up to 1 MiB")
    if gtes < 1 or gtes > 4096 or gtes & (gtes - 1):
        raise bad(f"{gtes} entries per grain table is implausible")
    if desc_offset and (desc_size > 2048 or (desc_offset + desc_size) * SECTOR > filesize):
        raise bad(f"the embedded descriptor ({desc_size} sectors at sector {desc_offset}) lies outside the file")
    directory_bytes = -(-capacity // (grain * gtes)) * 4
    for label, offset in (("grain directory", gd), ("redundant grain directory", rgd)):
        if offset == 0 and label.startswith("redundant"):
            continue
        if offset == 0 or offset == _GD_AT_END or offset * SECTOR + directory_bytes > filesize:
            raise bad(f"the {label} ({directory_bytes} bytes at sector {offset}) lies outside the "
                      f"{filesize}-byte file")
    if overhead * SECTOR > filesize:
        raise bad(f"the metadata overhead of {overhead} sectors is larger than the file")


class VmdkImage:
    """A VMDK opened for reading. Use as a context manager; ``stream`` is a read/seek file object.

    The object itself also offers ``read``/``seek``/``tell`` so it can be handed to :mod:`volumes`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.create_type = "unknown"
        self._files: list[Any] = []
        self._vmdk: Any = cast(Any, None)  # set by _open()
        self._extents: list[Extent] | None = None  # direct readers, made on the first read_at()
        try:
            self._open()
        except CorruptImage:
            self.close()
            raise
        except FileNotFoundError as exc:
            self.close()
            raise NotFound(f"{self.path}: file not found") from exc
        except UnicodeDecodeError as exc:
            self.close()
            raise CorruptImage(f"{self.path}: the disk descriptor is damaged (byte {exc.start} is not text)") from exc
        except Exception as exc:  # dissect/cstruct/OS errors: all mean "this image cannot be read"
            self.close()
            raise CorruptImage(f"{self.path}: cannot open the virtual disk: {exc}") from exc
        self.size: int = int(self._vmdk.size)
        self.stream: BinaryIO = guard(self._vmdk, self.size, str(self.path))

    def _open(self) -> None:
        fh = open(self.path, "rb")  # noqa: SIM115 - closed in close(), owned by this object
        self._files.append(fh)
        head = fh.read(len(_DESCRIPTOR_MAGIC))
        fh.seek(0)
        if head.startswith(_DESCRIPTOR_MAGIC):
            text = fh.read(_MAX_DESCRIPTOR + 1)
            if len(text) > _MAX_DESCRIPTOR:
                raise CorruptImage(f"{self.path}: descriptor is larger than {_MAX_DESCRIPTOR} bytes")
            self._check_descriptor(text.decode("utf-8", errors="replace"))
            fh.seek(0)
        elif head.startswith(_SPARSE_MAGIC):
            self.create_type = "monolithicSparse"
            check_sparse_header(fh, str(self.path))
        else:
            raise CorruptImage(f"{self.path}: not a VMDK (neither a descriptor nor a sparse extent header)")
        # dissect resolves extents with Path(fh.name).with_name(...): relative to the descriptor's folder.
        self._vmdk = VMDK(fh)
        for disk in self._vmdk.disks:
            if disk.fh is not fh:
                self._files.append(disk.fh)
            self._check_sparse(disk)
            embedded = getattr(disk, "descriptor", None)
            if head.startswith(_SPARSE_MAGIC) and embedded is not None:
                self.create_type = str(embedded.attr.get("createType", self.create_type))
        if getattr(self._vmdk, "parent", None) is not None:
            raise CorruptImage(
                f"{self.path}: delta (child) disks are not supported; open the consolidated disk"
            )

    def _check_descriptor(self, text: str) -> None:
        match = _CREATE_TYPE_RE.search(text)
        self.create_type = match.group(1) if match else "unknown"
        extents = _EXTENT_RE.findall(text)
        if not extents:
            raise CorruptImage(f"{self.path}: descriptor lists no extents")
        for _access, _sectors, kind, name in extents:
            if kind.upper() == "ZERO":
                continue
            if kind.upper() not in ("SPARSE", "FLAT", "VMFS", "VMFSSPARSE", "SESPARSE"):
                raise CorruptImage(f"{self.path}: unsupported extent type {kind}")
            # An extent must be a plain file name next to the descriptor: never read outside the point.
            if not name or name != os.path.basename(name) or "\\" in name or name in (".", ".."):
                raise CorruptImage(f"{self.path}: extent file name {name!r} is not a plain file name")
            extent = self.path.with_name(name)
            if not extent.is_file():
                raise CorruptImage(f"{self.path}: extent file {name} is missing")
            if kind.upper() == "SPARSE":
                with open(extent, "rb") as sparse:
                    check_sparse_header(sparse, str(extent))

    def _check_sparse(self, disk: Any) -> None:
        """Grain tables must lie inside the extent file; dissect would otherwise fail much later."""
        directory = getattr(disk, "_grain_directory", None)
        if directory is None or getattr(disk, "is_sesparse", False):
            return  # flat extents have no tables; SESparse tables use another encoding
        name = getattr(disk.fh, "name", str(self.path))
        table_bytes = int(disk._grain_table_size) * 4
        filesize = int(disk.filesize)
        if int(disk.header.capacity) <= 0:
            raise CorruptImage(f"{name}: sparse header declares an empty disk")
        compressed = bool(int(disk.header.flags) & 0x10000)
        grain_bytes = SECTOR if compressed else int(disk.header.grain_size) * SECTOR
        for index, sector in enumerate(directory):
            if not sector:
                continue
            if int(sector) * SECTOR + table_bytes > filesize:
                raise CorruptImage(
                    f"{name}: grain directory entry {index} points beyond the end of the file "
                    "(damaged or truncated extent)"
                )
            # dissect pads grains missing past the end of the file with zeros: files would silently
            # restore as zeros. One sequential read per 32 MiB of disk finds that up front.
            disk.fh.seek(int(sector) * SECTOR)
            table = array.array("I")
            table.frombytes(disk.fh.read(table_bytes))
            if sys.byteorder != "little":
                table.byteswap()
            last = max(table, default=0)
            if last > 1 and last * SECTOR + grain_bytes > filesize:
                raise CorruptImage(
                    f"{name}: grain table {index} points beyond the end of the file (truncated extent?)"
                )

    # -- file-object surface ----------------------------------------------------------------------
    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.stream.seek(offset, whence)

    def tell(self) -> int:
        return self.stream.tell()

    def read_at(self, offset: int, buffer: memoryview) -> None:
        """Fill ``buffer`` with the disk bytes at ``offset``: large reads, no intermediate copies.

        Reads the extent files directly through their grain tables (cached) instead of dissect's
        per-sector path; raises ``CorruptImage`` for anything the slow path would refuse, and more
        (a compressed grain whose embedded LBA does not match its place, a grain that inflates short).
        """
        if offset < 0 or offset + len(buffer) > self.size:
            raise CorruptImage(
                f"{self.path}: read of {len(buffer)} bytes at {offset} lies outside the {self.size}-byte disk"
            )
        if self._extents is None:
            self._extents = [extent_reader(disk, self.stream) for disk in self._vmdk.disks]
        done = 0
        for extent in self._extents:
            if done == len(buffer):
                break
            pos = offset + done
            if pos >= extent.start + extent.size or pos < extent.start:
                continue
            n = min(len(buffer) - done, extent.start + extent.size - pos)
            extent.read_at(pos - extent.start, buffer[done : done + n])
            done += n
        if done != len(buffer):
            raise CorruptImage(f"{self.path}: only {done} of {len(buffer)} bytes at offset {offset} exist")

    def close(self) -> None:
        if self._extents is not None:
            for extent in self._extents:
                extent.close()
            self._extents = None
        for f in self._files:
            try:
                f.close()
            except OSError:
                pass
        self._files.clear()

    def __enter__(self) -> VmdkImage:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<VmdkImage {self.path} {self.create_type} {self.size} bytes>"


def open_vmdk(path: str | os.PathLike[str]) -> VmdkImage:
    """Open a VMDK by descriptor (or monolithic sparse file) path; raises ``CorruptImage``/``NotFound``."""
    return VmdkImage(path)
