"""Read an exFAT volume lazily: one directory at a time, file data through its cluster runs.

dissect.fat supplies the on-disk layout (``c_exfat``: the boot sector structure and the entry type codes)
and ``RunlistStream`` supplies cluster-run reading. Its ``ExFAT`` class is not used to walk directories,
for reasons read from its code: it parses the *whole* tree when the volume is opened (open time and memory
grow with the number of files, a damaged directory loop recurses until Python gives up), it reads only the
first cluster of a contiguous ("NoFatChain") directory, which Windows writes for any directory it can
allocate in one piece, and it ignores the name length and the timestamps' UTC offset. This module parses a
directory's entry sets when the directory is listed, honouring all of those.

Timestamps: exFAT stores local time with an optional UTC offset (15-minute units). With the offset, the
time is converted to UTC exactly; without it (old writers), the wall-clock time is reported as if it were
UTC, as the FAT backend does. exFAT keeps 10 ms resolution.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from dissect.fat.c_exfat import (
    DIR_ENTRY_SIZE,
    EOC,
    FILE_ENTRY,
    FILENAME_ENTRY,
    STREAM_ENTRY,
    VOLUME_LABEL_ENTRY,
    c_exfat,
)
from dissect.util.stream import RunlistStream

from vmrestore.errors import CorruptImage
from vmrestore.model import FileEntry, FileType

_ATTR_DIRECTORY = 0x10
_FLAG_NO_FAT_CHAIN = 0x02
_BAD_CLUSTER = 0xFFFFFFF7
_FAT_BLOCK = 64 * 1024  # FAT entries are read (and cached) in blocks of this size
_MAX_DIRECTORY = 256 * 1024 * 1024  # the exFAT limit for a directory's size


@dataclass(frozen=True, slots=True)
class ExfatNode:
    """One file or directory as its entry set describes it (the root is synthesised from the boot sector)."""

    name: str
    is_dir: bool
    size: int  # DataLength
    valid_size: int  # ValidDataLength: bytes past it read as zeros
    first_cluster: int
    contiguous: bool  # NoFatChain: the clusters follow each other, the FAT is not consulted
    mtime: datetime | None


class ExfatVolume:
    """A read-only exFAT volume over ``stream`` (a seekable reader of the volume's bytes)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._fh = stream
        stream.seek(0)
        vbr = c_exfat.EXFAT_HEADER(stream.read(512))
        if vbr.fs_name != b"EXFAT   ":
            raise CorruptImage("not an exFAT volume (boot sector signature missing)")
        # The spec bounds: 512-4096 byte sectors, clusters up to 32 MiB.
        if not 9 <= vbr.bytes_per_sector_exp <= 12 or vbr.bytes_per_sector_exp + vbr.sectors_per_cluster_exp > 25:
            raise CorruptImage("exFAT boot sector declares an impossible sector or cluster size")
        self.sector_size = 1 << vbr.bytes_per_sector_exp
        self.sectors_per_cluster = 1 << vbr.sectors_per_cluster_exp
        self.cluster_size = self.sector_size * self.sectors_per_cluster
        self.cluster_count = int(vbr.cluster_heap_count)
        self._heap_sector = int(vbr.cluster_heap_sector)
        self._fat_offset = int(vbr.fat_sector) * self.sector_size
        self._fat_size = int(vbr.fat_sector_count) * self.sector_size
        self._fat_cache: dict[int, bytes] = {}
        root_cluster = int(vbr.root_dir_cluster)
        self._check_cluster(root_cluster, "root directory")
        root_clusters = len(self._chain(root_cluster, None))
        self.root = ExfatNode("", True, root_clusters * self.cluster_size, 0, root_cluster, False, None)
        self.label = ""
        for raw in self._raw_entries(self.root):
            if raw[0] == VOLUME_LABEL_ENTRY:
                count = min(raw[1], 11)
                self.label = raw[2 : 2 + 2 * count].decode("utf-16-le", errors="replace")
                break

    # -- clusters ----------------------------------------------------------------------------------
    def _check_cluster(self, cluster: int, what: str) -> None:
        if not 2 <= cluster < self.cluster_count + 2:
            raise CorruptImage(f"exFAT {what} points to cluster {cluster}, outside the volume")

    def _fat_entry(self, cluster: int) -> int:
        offset = cluster * 4
        if offset + 4 > self._fat_size:
            raise CorruptImage(f"exFAT cluster {cluster} lies beyond the allocation table")
        block = offset // _FAT_BLOCK
        data = self._fat_cache.get(block)
        if data is None:
            start = block * _FAT_BLOCK
            self._fh.seek(self._fat_offset + start)
            data = self._fh.read(min(_FAT_BLOCK, self._fat_size - start))
            if len(self._fat_cache) >= 64:
                self._fat_cache.clear()
            self._fat_cache[block] = data
        value: int = struct.unpack_from("<I", data, offset % _FAT_BLOCK)[0]
        return value

    def _chain(self, first: int, count: int | None) -> list[int]:
        """The clusters of a FAT chain: ``count`` of them, or up to the end-of-chain mark when None."""
        chain = [first]
        cluster = first
        while count is None or len(chain) < count:
            nxt = self._fat_entry(cluster)
            if nxt == EOC:
                if count is not None:
                    raise CorruptImage(f"exFAT cluster chain from {first} ends after {len(chain)} of {count} clusters")
                break
            if nxt == _BAD_CLUSTER:
                raise CorruptImage(f"exFAT cluster chain from {first} runs into a cluster marked bad")
            self._check_cluster(nxt, f"cluster chain from {first}")
            if len(chain) > self.cluster_count:
                raise CorruptImage(f"exFAT cluster chain from {first} loops")
            chain.append(nxt)
            cluster = nxt
        return chain

    def _runlist(self, node: ExfatNode) -> list[tuple[int, int]]:
        """(sector, sector count) runs holding the node's allocated clusters."""
        clusters = -(-node.size // self.cluster_size)
        if clusters == 0:
            return []
        self._check_cluster(node.first_cluster, f"{node.name!r}")
        chain: Sequence[int]
        if node.contiguous:
            if node.first_cluster + clusters > self.cluster_count + 2:
                raise CorruptImage(f"exFAT file {node.name!r} runs past the end of the volume")
            chain = range(node.first_cluster, node.first_cluster + clusters)
        else:
            chain = self._chain(node.first_cluster, clusters)
        runs: list[tuple[int, int]] = []
        for cluster in chain:
            sector = self._heap_sector + (cluster - 2) * self.sectors_per_cluster
            if runs and runs[-1][0] + runs[-1][1] == sector:
                runs[-1] = (runs[-1][0], runs[-1][1] + self.sectors_per_cluster)
            else:
                runs.append((sector, self.sectors_per_cluster))
        return runs

    def open(self, node: ExfatNode) -> BinaryIO:
        """The node's bytes (a directory's too); bytes past the valid data length read as zeros."""
        data: Any = RunlistStream(self._fh, self._runlist(node), node.size, self.sector_size)
        if node.valid_size < node.size and not node.is_dir:
            data = _ZeroTail(data, node.valid_size, node.size)
        result: BinaryIO = data
        return result

    # -- directories -------------------------------------------------------------------------------
    def _raw_entries(self, node: ExfatNode) -> Iterator[bytes]:
        if node.size > _MAX_DIRECTORY:
            raise CorruptImage(f"exFAT directory {node.name!r} claims {node.size} bytes")
        stream = self.open(node)
        stream.seek(0)
        data = stream.read(node.size)
        for offset in range(0, len(data) - DIR_ENTRY_SIZE + 1, DIR_ENTRY_SIZE):
            if data[offset] == 0x00:  # end of directory
                return
            yield data[offset : offset + DIR_ENTRY_SIZE]

    def children(self, node: ExfatNode) -> Iterator[ExfatNode]:
        entries = list(self._raw_entries(node))
        i = 0
        while i < len(entries):
            primary = entries[i]
            if primary[0] != FILE_ENTRY:
                i += 1  # deleted entries, the bitmap, up-case table, label, GUID, padding
                continue
            secondary = primary[1]
            if secondary < 2 or i + secondary >= len(entries):
                raise CorruptImage(f"exFAT directory {node.name!r}: truncated entry set at entry {i}")
            entry_set = entries[i : i + secondary + 1]
            yield self._node(node, entry_set, i)
            i += secondary + 1

    def _node(self, parent: ExfatNode, entry_set: list[bytes], index: int) -> ExfatNode:
        where = f"exFAT directory {parent.name!r}, entry {index}"
        primary, stream = entry_set[0], entry_set[1]
        if stream[0] != STREAM_ENTRY:
            raise CorruptImage(f"{where}: the file entry is not followed by a stream extension")
        if struct.unpack_from("<H", primary, 2)[0] != _set_checksum(entry_set):
            raise CorruptImage(f"{where}: entry set checksum mismatch (damaged directory)")
        name_length = stream[3]
        name_bytes = b"".join(e[2:32] for e in entry_set[2:] if e[0] == FILENAME_ENTRY)
        if name_length == 0 or len(name_bytes) < 2 * name_length:
            raise CorruptImage(f"{where}: file name shorter than its declared {name_length} characters")
        # NameLength counts UTF-16 code units: a character outside the BMP takes two (a surrogate pair).
        name = name_bytes[: 2 * name_length].decode("utf-16-le", errors="replace")
        attributes = struct.unpack_from("<H", primary, 4)[0]
        valid_size, first_cluster, size = struct.unpack_from("<Q4xIQ", stream, 8)
        return ExfatNode(
            name=name,
            is_dir=bool(attributes & _ATTR_DIRECTORY),
            size=int(size),
            valid_size=min(int(valid_size), int(size)),
            first_cluster=int(first_cluster),
            contiguous=bool(stream[1] & _FLAG_NO_FAT_CHAIN),
            mtime=_timestamp(struct.unpack_from("<I", primary, 12)[0], primary[21], primary[23]),
        )

    def entry(self, full: str, name: str, node: ExfatNode) -> FileEntry:
        if node.is_dir:
            return FileEntry(full, name, FileType.DIR, 0, node.mtime)
        return FileEntry(full, name, FileType.FILE, node.size, node.mtime)


def _set_checksum(entry_set: list[bytes]) -> int:
    """EntrySetChecksum over every byte of the set except the checksum field itself."""
    checksum = 0
    for n, byte in enumerate(b"".join(entry_set)):
        if n in (2, 3):
            continue
        checksum = (((checksum << 15) | (checksum >> 1)) + byte) & 0xFFFF
    return checksum


def _timestamp(stamp: int, centiseconds: int, utc_offset: int) -> datetime | None:
    """DOS date/time + 10 ms increment + UTC offset byte → an aware UTC datetime (None when invalid)."""
    try:
        local = datetime(
            1980 + (stamp >> 25),
            (stamp >> 21) & 0x0F,
            (stamp >> 16) & 0x1F,
            (stamp >> 11) & 0x1F,
            (stamp >> 5) & 0x3F,
            (stamp & 0x1F) * 2,
            tzinfo=UTC,
        )
    except ValueError:
        return None  # an impossible date: keep the file, drop the time
    if centiseconds <= 199:
        local += timedelta(milliseconds=10 * centiseconds)
    if utc_offset & 0x80:
        quarters = utc_offset & 0x7F
        if quarters & 0x40:
            quarters -= 0x80  # 7-bit two's complement
        local -= timedelta(minutes=15 * quarters)
    return local


class _ZeroTail(io.RawIOBase):
    """``inner`` up to ``valid`` bytes, zeros from there to ``size`` (exFAT's ValidDataLength rule)."""

    def __init__(self, inner: Any, valid: int, size: int) -> None:
        super().__init__()
        self._inner, self._valid, self.size, self._pos = inner, valid, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        out = b""
        if self._pos < min(end, self._valid):
            self._inner.seek(self._pos)
            out = bytes(self._inner.read(min(end, self._valid) - self._pos))
        out += bytes(max(0, end - self._pos - len(out)))
        self._pos += len(out)
        return out


def exfat_label(stream: BinaryIO) -> tuple[str, str]:
    """Open the volume and list its root (proves it is readable); returns (label, "") for ``volumes``."""
    volume = ExfatVolume(stream)
    for _ in volume.children(volume.root):
        break
    return volume.label, ""
