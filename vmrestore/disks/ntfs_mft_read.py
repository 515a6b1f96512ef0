"""Read the $MFT's bytes off the volume in large sequential chunks of whole records.

The $MFT is a file like any other, possibly fragmented: ``mft_layout`` takes its run list from dissect (which
already merged record 0's ``$ATTRIBUTE_LIST``), and ``read_mft`` reads those runs in 1 MiB pieces, straight
into the chunk buffer from the VMDK when it can (no copies through the stream layers). Reading is kept apart
from parsing so the benchmarks can measure the read floor alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from vmrestore.disks.ntfs_mft_format import _STRIDE
from vmrestore.errors import CorruptImage

_READ_PIECE = 1 << 20  # 1 MiB reads are the fastest through a sparse VMDK (TESTING.md)
CHUNK = 4 << 20  # records are parsed 4 MiB at a time


@dataclass(frozen=True, slots=True)
class MftLayout:
    """Where the $MFT's bytes are on the volume: ``runs`` of (first cluster or None when sparse, clusters)."""

    record_size: int
    cluster_size: int
    size: int
    runs: tuple[tuple[int | None, int], ...]


def mft_layout(ntfs: Any, what: str) -> MftLayout:
    """Read the $MFT's run list from a ``dissect.ntfs.NTFS`` (which already merged record 0's
    ``$ATTRIBUTE_LIST``, so a fragmented $MFT is fully mapped)."""
    try:
        stream = ntfs.mft.fh
        runs = tuple((None if lcn is None else int(lcn), int(count)) for lcn, count in stream.runlist)
        layout = MftLayout(int(ntfs._record_size), int(ntfs.cluster_size), int(stream.size), runs)
    except Exception as exc:  # a resident or unreadable $DATA: record 0 is damaged
        raise CorruptImage(f"{what}: cannot map the $MFT: {exc}") from exc
    if layout.record_size < _STRIDE or layout.record_size % _STRIDE or layout.size < layout.record_size:
        raise CorruptImage(f"{what}: implausible $MFT (record size {layout.record_size}, size {layout.size})")
    mapped = sum(count for _lcn, count in runs) * layout.cluster_size
    if mapped < layout.size:
        raise CorruptImage(f"{what}: the $MFT's runs map {mapped} of its {layout.size} bytes")
    return layout


def read_mft(volume: BinaryIO, layout: MftLayout, chunk: int = CHUNK, align: int = 1) -> Iterator[bytearray]:
    """The $MFT's bytes in order, as buffers of whole records (about ``chunk`` bytes each, a multiple of
    ``align`` records but for the last)."""
    whole = layout.record_size * align
    chunk = max(whole, chunk - chunk % whole)
    rs = layout.record_size
    direct = _direct_reader(volume)
    buf = bytearray(chunk)
    view = memoryview(buf)
    fill = 0
    remaining = layout.size
    for lcn, count in layout.runs:
        run_left = min(count * layout.cluster_size, remaining)
        pos = None if lcn is None else lcn * layout.cluster_size
        while run_left > 0:
            piece = min(run_left, chunk - fill, _READ_PIECE)
            if pos is None:
                view[fill : fill + piece] = bytes(piece)
            elif direct is not None:
                direct(pos, view[fill : fill + piece])
                pos += piece
            else:
                volume.seek(pos)
                data = volume.read(piece)
                if len(data) != piece:
                    raise CorruptImage(f"$MFT: short read at volume offset {pos}")
                view[fill : fill + piece] = data
                pos += piece
            fill += piece
            run_left -= piece
            remaining -= piece
            if fill == chunk:
                yield buf
                buf = bytearray(chunk)
                view = memoryview(buf)
                fill = 0
        if remaining <= 0:
            break
    whole = fill - fill % rs
    if whole:
        del view
        del buf[whole:]
        yield buf


def _direct_reader(volume: BinaryIO) -> Callable[[int, memoryview], None] | None:
    """Read volume bytes straight into the chunk from the disk image (``VmdkImage.read_at``: no copies
    through the stream layers) when ``volume`` is a guarded range of such a disk; else None."""
    from dissect.util.stream import RangeStream

    from vmrestore.disks._streams import GuardedStream

    if not isinstance(volume, GuardedStream) or type(volume.inner) is not RangeStream:
        return None
    region = volume.inner
    read_at = getattr(getattr(region, "_fh", None), "read_at", None)
    if read_at is None or not isinstance(region.size, int):
        return None
    base, size = int(region.offset), int(region.size)

    def direct(pos: int, into: memoryview) -> None:
        if pos < 0 or pos + len(into) > size:
            raise CorruptImage(f"$MFT: short read at volume offset {pos}")
        read_at(base + pos, into)

    return direct
