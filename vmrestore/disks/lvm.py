"""LVM2: the logical volumes on a disk's physical volumes, read through dissect.volume.lvm.

A partition (or a whole disk) that is an LVM2 physical volume holds no files itself; its logical volumes
do. They are listed as volumes of their own, numbered *after* the partitions so that partition indices
never move, and labelled ``vg/lv``. Linear logical volumes (one or more segments, one stripe each) are
read; every other kind is listed with the reason it cannot be browsed. A volume group that spans several
disks is only readable for the logical volumes whose extents all lie on this disk.

dissect's striped segments concatenate the stripes instead of interleaving them, and its thin-pool reader
has not been checked against real pools here: both are refused with a reason rather than read wrongly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from dissect.util.stream import RangeStream
from dissect.volume.lvm import LVM2, LVM2Device

from vmrestore.disks._streams import guard
from vmrestore.model import VolumeInfo

_SECTOR = 512

# (index, stream, size, offset on the disk) → the described volume (file system, label, readable...)
Describe = Callable[[int, BinaryIO, int, int], VolumeInfo]

_KIND_REASONS = {
    "thin": "thin-provisioned LVM2 logical volume: reading thin pools is not supported; mount the disk instead",
    "thin-pool": "LVM2 thin pool: holds thin logical volumes, not files",
    "snapshot": "LVM2 snapshot: snapshots are not supported; browse the origin volume or mount the disk",
    "mirror": "mirrored LVM2 logical volume: only linear logical volumes can be read; mount the disk instead",
    "cache": "cached LVM2 logical volume: only linear logical volumes can be read; mount the disk instead",
    "writecache": "cached LVM2 logical volume: only linear logical volumes can be read; mount the disk instead",
    "vdo": "VDO LVM2 logical volume: compressed/deduplicated volumes are not supported; mount the disk instead",
    "integrity": "LVM2 integrity volume: only linear logical volumes can be read; mount the disk instead",
}


@dataclass(frozen=True, slots=True)
class LogicalVolume:
    """One visible logical volume found on the disk."""

    name: str  # "vg/lv"
    size: int
    offset: int  # where its first extent lies on the disk
    reason: str | None  # why it cannot be read, or None
    lv: Any  # dissect's LogicalVolume (only opened when reason is None)

    def open(self, what: str) -> BinaryIO:
        return guard(self.lv.open(), self.size, what)


def _pv_stream(disk: Any, volume: VolumeInfo) -> BinaryIO:
    return guard(RangeStream(disk, volume.offset, volume.size), volume.size, f"physical volume {volume.index}")


def _scan(disk: Any, partitions: list[VolumeInfo]) -> tuple[list[LogicalVolume], dict[int, str]]:
    """The logical volumes of every volume group found on the partitions, and a reason per PV index."""
    groups: dict[str, list[tuple[VolumeInfo, Any]]] = {}
    pv_reasons: dict[int, str] = {}
    for volume in partitions:
        if volume.fs != "lvm2" or volume.size == 0:
            continue
        try:
            device = LVM2Device(_pv_stream(disk, volume))
            metadata = device.metadata
            vg_name = next(k for k, v in metadata.items() if isinstance(v, dict))
        except Exception as exc:  # damaged label or metadata: this PV only
            pv_reasons[volume.index] = f"LVM2 physical volume: its metadata cannot be read: {exc}"
            continue
        groups.setdefault(vg_name, []).append((volume, device))
    found: list[LogicalVolume] = []
    for vg_name, members in groups.items():
        try:
            vg = LVM2([device for _, device in members]).volume_group
        except Exception as exc:
            for volume, _ in members:
                pv_reasons[volume.index] = f"LVM2 physical volume of {vg_name}: its metadata cannot be read: {exc}"
            continue
        by_id = {str(device.id): volume for volume, device in members}
        on_disk = {pv.name: by_id[pv.id.replace("-", "")] for pv in vg.pv if pv.id.replace("-", "") in by_id}
        lvs = [lv for lv in vg.lv if lv.is_visible]
        names = ", ".join(f"{vg_name}/{lv.name}" for lv in lvs) or "none"
        for volume, _ in members:
            pv_reasons[volume.index] = (
                f"LVM2 physical volume of volume group {vg_name}: holds no files itself; "
                f"its logical volumes ({names}) are listed as volumes of their own"
            )
        cow_stores = {seg.cow_store for lv in vg.lv for seg in lv.segments if seg.type == "snapshot"}
        for lv in lvs:
            found.append(_describe_lv(vg, lv, on_disk, lv.name in cow_stores))
    return found, pv_reasons


def _describe_lv(vg: Any, lv: Any, on_disk: dict[str, VolumeInfo], is_cow: bool) -> LogicalVolume:
    name = f"{vg.name}/{lv.name}"
    extent = int(vg.extent_size) * _SECTOR
    size = sum(int(seg.extent_count) for seg in lv.segments) * extent
    offset, reason = 0, None
    first = lv.segments[0] if lv.segments else None
    if first is not None and first.type == "striped" and first.stripes and first.stripes[0][0] in on_disk:
        pv_name, pv_extent = first.stripes[0]
        pv = vg.physical_volumes[pv_name]
        offset = on_disk[pv_name].offset + int(pv.pe_start) * _SECTOR + int(pv_extent) * extent
    if is_cow:
        reason = _KIND_REASONS["snapshot"]
    for seg in lv.segments:
        if reason:
            break
        kind = str(seg.type)
        if kind.startswith("raid"):
            reason = f"{kind} LVM2 logical volume: only linear logical volumes can be read; mount the disk instead"
        elif kind != "striped":
            reason = _KIND_REASONS.get(
                kind, f"{kind} LVM2 logical volume: only linear logical volumes can be read; mount the disk instead"
            )
        elif int(seg.stripe_count) != 1:
            reason = (
                f"striped LVM2 logical volume ({seg.stripe_count} stripes): only linear logical volumes "
                "can be read; mount the disk instead"
            )
        elif any(pv_name not in on_disk for pv_name, _ in seg.stripes):
            reason = (
                "part of this LVM2 logical volume lies on a physical volume that is not on this disk "
                "(the volume group spans several disks); mount the disks instead"
            )
    if not lv.segments:
        reason = "LVM2 logical volume without segments: holds no data"
    return LogicalVolume(name, size, offset, reason, lv)


def with_logical_volumes(disk: Any, partitions: list[VolumeInfo], what: str, describe: Describe) -> list[VolumeInfo]:
    """``partitions`` (PV entries with a reason naming their logical volumes) followed by the LVs."""
    if not any(v.fs == "lvm2" for v in partitions):
        return partitions
    lvs, pv_reasons = _scan(disk, partitions)
    volumes = [replace(v, reason=pv_reasons[v.index]) if v.index in pv_reasons else v for v in partitions]
    for lv in lvs:
        index = len(volumes) + 1
        if lv.reason is not None:
            volumes.append(VolumeInfo(index, "lvm2-lv", lv.name, lv.size, lv.offset, False, lv.reason))
            continue
        label = f"{what}, volume {index} ({lv.name})"
        try:
            info = describe(index, lv.open(label), lv.size, lv.offset)
        except Exception as exc:
            info = VolumeInfo(index, "unknown", "", lv.size, lv.offset, False, f"cannot read {lv.name}: {exc}")
        if info.fs == "lvm2":  # a PV inside an LV: never scanned, so that "lvm2" always means a partition
            info = replace(info, fs="lvm2-lv", readable=False, reason="LVM2 physical volume nested in a logical volume")
        volumes.append(replace(info, label=lv.name))
    return volumes


def open_logical_volume(disk: Any, volumes: list[VolumeInfo], index: int, what: str) -> BinaryIO | None:
    """The stream of volume ``index`` of ``volumes`` (as :func:`with_logical_volumes` made them) if it is
    a readable logical volume; None for a partition."""
    pvs = [v for v in volumes if v.fs == "lvm2"]
    if not pvs:
        return None
    lvs, _ = _scan(disk, pvs)
    lv_index = index - (len(volumes) - len(lvs)) - 1
    if not 0 <= lv_index < len(lvs) or lvs[lv_index].reason is not None:
        return None
    return lvs[lv_index].open(f"{what}, volume {index} ({lvs[lv_index].name})")
