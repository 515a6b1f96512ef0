"""Find the volumes of a disk (MBR, GPT or none) and tell what file system each one holds.

Detection is by on-disk signature, not by partition type: admins format "Linux" partitions with NTFS and
the other way round, and an unpartitioned data disk has no type at all. A volume we cannot read is still
listed, with ``readable=False`` and a reason the operator understands (BitLocker, ReFS, LVM, damage), so
the catalog can say *why* a disk has no files instead of hiding it.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from dissect.extfs import ExtFS
from dissect.fat import FATFS
from dissect.ntfs import NTFS
from dissect.util.stream import RangeStream
from dissect.volume.disk import Disk
from dissect.xfs import XFS

from vmrestore.disks._streams import guard
from vmrestore.disks.fs_exfat import exfat_label
from vmrestore.disks.lvm import open_logical_volume, with_logical_volumes
from vmrestore.errors import CorruptImage, NotFound
from vmrestore.model import VolumeInfo

# Unreadable volume families and the reason we give the operator.
_UNSUPPORTED = {
    "bitlocker": "BitLocker-encrypted volume: unlock it in the guest (or mount the disk) to restore files",
    "refs": "ReFS volume: file-level browsing of ReFS is not supported; mount the disk instead",
    "lvm2": "LVM2 physical volume: holds logical volumes, not files",
    "luks": "LUKS-encrypted volume: cannot be read without the key",
    "swap": "Linux swap space: holds no files",
}


class DiskStream(Protocol):
    """What a disk must offer: a seekable binary reader (a :class:`VmdkImage`, a raw file...)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def tell(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Region:
    offset: int
    size: int


def disk_size(disk: DiskStream) -> int:
    size = getattr(disk, "size", None)
    if isinstance(size, int):
        return size
    end = disk.seek(0, io.SEEK_END)
    disk.seek(0)
    return end


_GPT_SIGNATURE = b"EFI PART"
_MAX_GPT_ENTRIES = 1024  # 128 is the norm; the spec's minimum array is 16 KiB, nobody writes 128 KiB of entries


def _check_gpt_header(head: bytes, size: int, sector: int = 512) -> None:
    """Refuse a GPT header whose entry array cannot be right, before dissect reads that many entries.

    A few flipped bytes in ``NumberOfPartitionEntries`` otherwise make dissect parse hundreds of thousands
    of entries (tens of seconds, measured) before anything is shown. Only the bounds are checked: a header
    whose checksum fails but whose fields are plausible is still read, so damaged backups give what they can.
    """
    header = head[sector : sector + 92]
    if len(header) < 92 or header[:8] != _GPT_SIGNATURE:
        return
    entries_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
    if count > _MAX_GPT_ENTRIES or entry_size < 128 or entry_size > 4096 or entry_size % 8:
        raise CorruptImage(f"the GPT partition table is damaged: {count} entries of {entry_size} bytes")
    if entries_lba < 2 or entries_lba * sector + count * entry_size > size:
        raise CorruptImage(f"the GPT partition table is damaged: its entries (at sector {entries_lba}) lie "
                           "outside the disk")


def _regions(disk: DiskStream) -> list[_Region]:
    size = disk_size(disk)
    disk.seek(0)
    head = disk.read(min(size, 64 * 1024))
    if detect(head) != "unknown":
        # A file system starting at sector 0 (a FAT/NTFS boot sector also ends in 55 AA and would pass
        # for an MBR with garbage partitions): the whole disk is one volume.
        return [_Region(0, size)]
    _check_gpt_header(head, size)
    disk.seek(0)
    try:
        table = Disk(disk)
    except CorruptImage:
        raise
    except Exception:
        # No MBR/GPT: the whole disk is one volume (a VBR in sector 0 also lands here, as it should).
        return [_Region(0, size)]
    regions = []
    for part in table.partitions:
        if part.type in (0xEE,):  # protective entries never hold data
            continue
        offset, length = int(part.offset), int(part.size)
        raw = part.raw
        if raw is not None and hasattr(raw, "last_lba"):
            # GPT's last LBA is inclusive; dissect's size leaves the last sector out.
            length = (int(raw.last_lba) - int(raw.first_lba) + 1) * table.sector_size
        if offset >= size or length <= 0:
            regions.append(_Region(offset, 0))
            continue
        regions.append(_Region(offset, min(length, size - offset)))
    return regions


def open_region(disk: DiskStream, offset: int, size: int, what: str) -> BinaryIO:
    """A read-only stream over one volume of the disk."""
    return guard(RangeStream(disk, offset, size), size, what)


def detect(head: bytes) -> str:
    """Name the file system from the first 64 KiB of a volume ("unknown" when nothing matches)."""
    if len(head) < 1024:
        return "unknown"
    oem = head[3:11]
    if oem == b"NTFS    ":
        return "ntfs"
    if oem == b"-FVE-FS-":
        return "bitlocker"
    if oem == b"EXFAT   ":
        return "exfat"
    if oem == b"ReFS\x00\x00\x00\x00" or head[16:20] == b"FSRS":
        return "refs"
    if head[:4] == b"XFSB":
        return "xfs"
    if head[:6] == b"LUKS\xba\xbe":
        return "luks"
    if head[512:520] == b"LABELONE" and head[536:544] == b"LVM2 001":
        return "lvm2"
    if len(head) >= 4096 and head[4086:4096] in (b"SWAPSPACE2", b"SWAP-SPACE"):
        return "swap"
    if len(head) >= 1024 + 104 and struct.unpack_from("<H", head, 1024 + 56)[0] == 0xEF53:
        compat, incompat = struct.unpack_from("<II", head, 1024 + 92)
        if incompat & 0x2C0:  # extents | 64bit | flex_bg
            return "ext4"
        return "ext3" if compat & 0x4 else "ext2"
    if head[510:512] == b"\x55\xaa":
        if head[82:87] == b"FAT32":
            return "fat32"
        if head[54:59] == b"FAT12":
            return "fat12"
        if head[54:59] in (b"FAT16", b"FAT  "):
            return "fat16"
    return "unknown"


def _label(fs: str, stream: BinaryIO) -> tuple[str, str]:
    """Open with dissect, read the label and the root directory: proves the volume is readable.

    Returns (label, refined fs name) — FAT's type is decided by the cluster count, not the label string.
    """
    opener: dict[str, Callable[[BinaryIO], tuple[str, str]]] = {
        "ntfs": _ntfs_label,
        "ext2": _ext_label,
        "ext3": _ext_label,
        "ext4": _ext_label,
        "fat12": _fat_label,
        "fat16": _fat_label,
        "fat32": _fat_label,
        "xfs": _xfs_label,
        "exfat": exfat_label,
    }
    label, refined = opener[fs](stream)
    return label, refined or fs


def _ntfs_label(stream: BinaryIO) -> tuple[str, str]:
    fs = NTFS(stream)
    for _ in fs.mft.root.iterdir():
        break
    return fs.volume_name or "", ""


def _ext_label(stream: BinaryIO) -> tuple[str, str]:
    fs = ExtFS(stream)
    for _ in fs.root.iterdir():
        break
    return str(fs.volume_name), ""


def _fat_label(stream: BinaryIO) -> tuple[str, str]:
    fs: Any = FATFS(stream)
    label = str(fs.volume_label)
    for entry in fs.root.iterdir():
        if entry.is_volume_id():  # the root-directory label is the one Windows shows
            label = str(entry.name).strip()
            break
    return ("" if label == "NO NAME" else label), str(fs.type.name).lower()


def _xfs_label(stream: BinaryIO) -> tuple[str, str]:
    fs = XFS(stream)
    for _ in fs.root.iterdir():
        break
    return str(fs.name), ""


def list_volumes(disk: DiskStream, what: str = "disk") -> list[VolumeInfo]:
    """Every volume of the disk, numbered from 1 in partition-table order.

    Raises ``CorruptImage`` only when the disk itself cannot be read; a damaged or unsupported volume
    comes back with ``readable=False`` and a reason.
    """
    try:
        regions = _regions(disk)
    except CorruptImage as exc:
        if what in str(exc):
            raise
        raise CorruptImage(f"{what}: {exc}") from exc
    except Exception as exc:
        raise CorruptImage(f"{what}: cannot read the partition table: {exc}") from exc
    volumes = []
    for index, region in enumerate(regions, start=1):
        volumes.append(_describe(disk, index, region, what))
    # LVM2 logical volumes follow the partitions (lvm.py), so partition indices never move.
    return with_logical_volumes(
        disk, volumes, what, lambda i, stream, size, offset: _describe(disk, i, _Region(offset, size), what, stream)
    )


def _describe(
    disk: DiskStream, index: int, region: _Region, what: str, stream: BinaryIO | None = None
) -> VolumeInfo:
    if region.size == 0:
        return VolumeInfo(index, "unknown", "", 0, region.offset, False, "partition lies outside the disk")
    if stream is None:
        stream = open_region(disk, region.offset, region.size, f"{what}, volume {index}")
    try:
        stream.seek(0)
        head = stream.read(min(region.size, 64 * 1024))
    except CorruptImage as exc:
        return VolumeInfo(index, "unknown", "", region.size, region.offset, False, str(exc))
    fs = detect(head)
    if fs in _UNSUPPORTED:
        return VolumeInfo(index, fs, "", region.size, region.offset, False, _UNSUPPORTED[fs])
    if fs == "unknown":
        return VolumeInfo(
            index,
            fs,
            "",
            region.size,
            region.offset,
            False,
            "no recognised file system (empty or unsupported)",
        )
    try:
        label, fs = _label(fs, stream)
    except Exception as exc:  # any parser failure on this volume: report it, keep the other volumes
        return VolumeInfo(
            index, fs, "", region.size, region.offset, False, f"damaged {fs} file system: {exc}"
        )
    return VolumeInfo(index, fs, label, region.size, region.offset)


def volume_stream(disk: DiskStream, volume_index: int, what: str = "disk") -> tuple[VolumeInfo, BinaryIO]:
    """The volume with this index and a read-only stream over it."""
    volumes = list_volumes(disk, what)
    for volume in volumes:
        if volume.index == volume_index:
            lv = open_logical_volume(disk, volumes, volume_index, what)
            if lv is not None:
                return volume, lv
            return volume, open_region(disk, volume.offset, volume.size, f"{what}, volume {volume_index}")
    raise NotFound(f"{what} has no volume {volume_index}")
