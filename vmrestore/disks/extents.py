"""Direct readers for the extent files of a VMDK: large reads through the grain tables, no dissect layers.

:meth:`VmdkImage.read_at <vmrestore.disks.image.VmdkImage.read_at>` hands each extent the part of a read
that falls in it. Three things make this path fast, each measured by ``benchmarks/extract_speed.py``:

- runs of grains that are contiguous in the file (or all absent) are read with one ``readinto`` straight
  into the caller's buffer;
- compressed grains (streamOptimized) are read in one window and inflated on a small thread pool, then
  placed in order: ``zlib`` releases the GIL while it inflates, so two cores inflate two grains at once;
- a sequential reader tells the kernel what comes next (``posix_fadvise``), so a cold read overlaps the
  disk with our copying instead of waiting for each chunk in turn.

Everything the slow (dissect) path refuses is refused here too, as :class:`CorruptImage`, and more: a
compressed grain whose embedded LBA does not match its place, or one that inflates short.
"""

from __future__ import annotations

import array
import io
import os
import struct
import sys
import threading
import zlib
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, BinaryIO

from dissect.hypervisor.disk.vmdk import RawDisk, SparseDisk

from vmrestore.errors import CorruptImage

SECTOR = 512
_SPARSE_MAGIC = b"KDMV"
_FLAG_COMPRESSED = 0x10000
_FLAG_EMBEDDED_LBA = 0x20000
_TABLE_CACHE = 256  # grain tables kept (2 KiB each, 32 MiB of disk each with 64 KiB grains)
_READAHEAD = 8 * 1024 * 1024  # asked of the kernel ahead of a sequential reader
# Inflate threads: one per core, at most 4 (a 1 MiB read is 16 grains; more threads only add hand-offs).
INFLATE_WORKERS = max(1, min(4, os.cpu_count() or 1))
# The pool only pays when inflating is real work: data that did not compress is stored by deflate as-is
# and "inflates" at memcpy speed, where handing grains to threads costs more than it saves (measured on
# random data: 10-20 % slower on the pool). Below this ratio of window bytes to output, use the pool.
POOL_BELOW_RATIO = 0.8

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _inflate_pool() -> ThreadPoolExecutor | None:
    """The shared inflate pool, made on first use; None on a single core (inflating inline is faster)."""
    global _pool
    if INFLATE_WORKERS < 2:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(INFLATE_WORKERS, thread_name_prefix="vmdk-inflate")
        return _pool


def _inflate(data: memoryview, grain_bytes: int) -> bytes:
    """One grain's deflate stream to its bytes (runs on a pool thread; zlib drops the GIL meanwhile)."""
    return zlib.decompress(data, 15, grain_bytes)


def _inflate_run(pieces: list[memoryview], grain_bytes: int) -> list[bytes | zlib.error]:
    """Consecutive grains in order; a damaged one is returned as its error (the caller names the grain)."""
    out: list[bytes | zlib.error] = []
    for data in pieces:
        try:
            out.append(_inflate(data, grain_bytes))
        except zlib.error as exc:
            out.append(exc)
    return out


def _readinto_exact(fh: io.FileIO, offset: int, buffer: memoryview, name: str) -> None:
    fh.seek(offset)
    got = 0
    while got < len(buffer):
        n = fh.readinto(buffer[got:])
        if not n:
            raise CorruptImage(
                f"{name}: only {got} of {len(buffer)} bytes at file offset {offset} could be read "
                "(is the file truncated?)"
            )
        got += n


class _Readahead:
    """Tells the kernel which bytes of a file a sequential reader wants next (a no-op where unsupported)."""

    def __init__(self, fh: io.FileIO) -> None:
        self._fd = fh.fileno()
        self._last_end = -1
        self._advised = 0
        self._ok = hasattr(os, "posix_fadvise")
        if self._ok:
            try:
                os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            except OSError:
                self._ok = False

    def read(self, offset: int, length: int) -> None:
        """Note a read of ``length`` bytes at ``offset``; when reads follow each other, ask for more."""
        end = offset + length
        sequential = offset == self._last_end or (0 <= offset - self._last_end <= 2 * SECTOR)
        self._last_end = end
        if not self._ok or not sequential or end + _READAHEAD // 2 < self._advised:
            return
        start = max(end, self._advised)
        try:
            os.posix_fadvise(self._fd, start, end + _READAHEAD - start, os.POSIX_FADV_WILLNEED)
        except OSError:
            self._ok = False
            return
        self._advised = end + _READAHEAD


class Extent:
    """One extent file of the disk: ``size`` bytes of the disk starting at ``start``."""

    start: int
    size: int

    def read_at(self, offset: int, buffer: memoryview) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _FallbackExtent(Extent):
    """Extent kinds we have no direct reader for (SESparse, COWD): the guarded dissect stream."""

    def __init__(self, start: int, size: int, stream: BinaryIO) -> None:
        self.start, self.size, self._stream = start, size, stream

    def read_at(self, offset: int, buffer: memoryview) -> None:
        self._stream.seek(self.start + offset)
        data = self._stream.read(len(buffer))  # the guard raises CorruptImage on a short read
        buffer[:] = data


class _FlatExtent(Extent):
    def __init__(self, disk: Any) -> None:
        self.start, self.size = int(disk.offset), int(disk.size)
        self._name = str(getattr(disk.fh, "name", "extent"))
        self._fh = open(self._name, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self._ahead = _Readahead(self._fh)

    def read_at(self, offset: int, buffer: memoryview) -> None:
        _readinto_exact(self._fh, offset, buffer, self._name)
        self._ahead.read(offset, len(buffer))

    def close(self) -> None:
        self._fh.close()


class _SparseExtent(Extent):
    """A hosted sparse extent (monolithicSparse, twoGbMaxExtentSparse, streamOptimized)."""

    def __init__(self, disk: Any) -> None:
        self.start, self.size = int(disk.offset), int(disk.size)
        self._name = str(getattr(disk.fh, "name", "extent"))
        header = disk.header
        self._grain = int(header.grain_size) * SECTOR
        self._per_table = int(disk._grain_table_size)
        self._directory = [int(x) for x in disk._grain_directory]
        self._compressed = bool(int(header.flags) & _FLAG_COMPRESSED)
        self._lba_header = bool(int(header.flags) & _FLAG_EMBEDDED_LBA)
        self._filesize = int(disk.filesize)
        self._tables: OrderedDict[int, array.array[int]] = OrderedDict()
        self._window = bytearray()  # compressed grains are read here (_window_of)
        self._fh = open(self._name, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self._ahead = _Readahead(self._fh)

    def close(self) -> None:
        self._fh.close()

    def _table(self, index: int) -> array.array[int] | None:
        table = self._tables.get(index)
        if table is not None:
            self._tables.move_to_end(index)
            return table
        if index >= len(self._directory):
            raise CorruptImage(f"{self._name}: grain table {index} is not in the grain directory")
        sector = self._directory[index]
        if not sector:
            return None
        raw = bytearray(self._per_table * 4)
        _readinto_exact(self._fh, sector * SECTOR, memoryview(raw), self._name)
        table = array.array("I")
        table.frombytes(raw)
        if sys.byteorder != "little":
            table.byteswap()
        self._tables[index] = table
        if len(self._tables) > _TABLE_CACHE:
            self._tables.popitem(last=False)
        return table

    def _grain_sector(self, grain: int) -> int:
        table = self._table(grain // self._per_table)
        return 0 if table is None else table[grain % self._per_table]

    def read_at(self, offset: int, buffer: memoryview) -> None:
        grain_bytes = self._grain
        end = offset + len(buffer)
        pos = offset
        while pos < end:
            # One run: consecutive grains that are all absent, or (uncompressed) contiguous in the file.
            grain, within = divmod(pos, grain_bytes)
            sector = self._grain_sector(grain)
            run_end = min(end, (grain + 1) * grain_bytes)
            if self._compressed and sector > 1:
                pos += self._read_compressed(grain, sector, pos, end, buffer[pos - offset :])
                continue
            per_grain = grain_bytes // SECTOR
            while run_end < end:
                nxt = self._grain_sector(run_end // grain_bytes)
                absent = sector <= 1 and nxt <= 1
                contiguous = sector > 1 and nxt == sector + (run_end // grain_bytes - grain) * per_grain
                if not (absent or contiguous):
                    break
                run_end = min(end, run_end + grain_bytes)
            view = buffer[pos - offset : run_end - offset]
            if sector <= 1:
                view[:] = bytes(len(view))  # unallocated (no parent: deltas are refused) or a zero grain
            else:
                _readinto_exact(self._fh, sector * SECTOR + within, view, self._name)
                self._ahead.read(sector * SECTOR + within, len(view))
            pos = run_end

    def _compressed_run(self, grain: int, sector: int, end: int) -> list[int]:
        """File sectors of the compressed grains from ``grain`` on that are stored in order, close together."""
        grain_bytes = self._grain
        sectors = [sector]
        last_grain = (end - 1) // grain_bytes
        while grain + len(sectors) <= last_grain:
            nxt = self._grain_sector(grain + len(sectors))
            # Grains stored in order and close together (qemu and ESXi write them so): one read.
            if nxt <= sectors[-1] or (nxt - sectors[-1]) * SECTOR > 2 * grain_bytes + SECTOR:
                break
            sectors.append(nxt)
        return sectors

    def _read_compressed(self, grain: int, sector: int, pos: int, end: int, out: memoryview) -> int:
        """Inflate consecutive compressed grains from ``pos``, their file bytes read in one go.

        The grains are inflated on the pool and placed strictly in grain order, whichever finishes
        first. Returns the number of bytes placed in ``out``.
        """
        grain_bytes = self._grain
        sectors = self._compressed_run(grain, sector, end)
        window_start = sectors[0] * SECTOR
        # Up to the end of the last grain's largest possible deflate stream: one read, no tail re-read.
        mv = self._window_of(sectors[-1] * SECTOR + grain_bytes + 2 * SECTOR - window_start)
        available = min(len(mv), max(0, self._filesize - window_start))
        _readinto_exact(self._fh, window_start, mv[:available], self._name)
        self._ahead.read(window_start, available)
        pieces = [self._grain_data(grain + i, sec, window_start, mv, available) for i, sec in enumerate(sectors)]
        compressible = available < POOL_BELOW_RATIO * len(pieces) * grain_bytes
        pool = _inflate_pool() if len(pieces) > 1 and compressible else None
        # One task per worker, each a run of consecutive grains (16 hand-offs per MiB cost more CPU than
        # they save); this thread inflates the first run itself instead of idling.
        share = -(-len(pieces) // (INFLATE_WORKERS + 1)) if pool is not None else len(pieces)
        runs = [pieces[at : at + share] for at in range(0, len(pieces), share)]
        futures: list[Future[list[bytes | zlib.error]]] = []
        if pool is not None:
            futures = [pool.submit(_inflate_run, run, grain_bytes) for run in runs[1:]]
        written = 0
        try:
            done = 0
            for n, run in enumerate(runs):
                results = _inflate_run(run, grain_bytes) if n == 0 else futures[n - 1].result()
                for plain in results:
                    g = grain + done
                    i = done
                    done += 1
                    if isinstance(plain, zlib.error):
                        raise CorruptImage(f"{self._name}: compressed grain {g} is damaged: {plain}") from plain
                    written = self._place(plain, g, i, pos, end, out, written)
        finally:
            for future in futures:
                future.cancel()  # after a failure: do not inflate what nobody will read
            wait(futures)  # the window is reused: no worker may still be reading it
        return written

    def _window_of(self, size: int) -> memoryview:
        """A reusable read window of ``size`` bytes.

        A fresh ``bytearray`` per read is a fresh mapping in a worker thread's malloc arena, zero-filled and
        handed back on free: measured 260,000 page faults and twice the system time per GiB.
        """
        if len(self._window) < size:
            self._window = bytearray(max(size, 2 * len(self._window)))
        return memoryview(self._window)[:size]

    def _place(self, plain: bytes, g: int, i: int, pos: int, end: int, out: memoryview, written: int) -> int:
        """Copy the part of grain ``g`` (the ``i``-th of this read) that the read wants; returns the new fill."""
        grain_bytes = self._grain
        lo = pos - g * grain_bytes if i == 0 else 0
        hi = min(grain_bytes, end - g * grain_bytes)
        if len(plain) < hi:
            raise CorruptImage(f"{self._name}: compressed grain {g} inflates to only {len(plain)} bytes")
        out[written : written + hi - lo] = memoryview(plain)[lo:hi]
        return written + hi - lo

    def _grain_data(self, g: int, sec: int, window_start: int, mv: memoryview, available: int) -> memoryview:
        """The deflate stream of grain ``g`` (stored at file sector ``sec``), checked against its header."""
        head = 12 if self._lba_header else 4
        at = sec * SECTOR - window_start
        if at + head > available:
            raise CorruptImage(f"{self._name}: compressed grain {g} lies beyond the end of the file")
        if self._lba_header:
            lba, size = struct.unpack_from("<QI", mv, at)
            if lba != g * (self._grain // SECTOR):
                raise CorruptImage(f"{self._name}: compressed grain {g} is labelled for sector {lba} (damaged extent)")
        else:
            (size,) = struct.unpack_from("<I", mv, at)
        stop = at + head + size
        if stop <= available:
            return mv[at + head : stop]
        # The last grain of the window runs past it: read its tail.
        if sec * SECTOR + head + size > self._filesize:
            raise CorruptImage(f"{self._name}: compressed grain {g} runs past the end of the file (truncated?)")
        whole = bytearray(head + size)
        _readinto_exact(self._fh, sec * SECTOR, memoryview(whole), self._name)
        return memoryview(whole)[head:]


def extent_reader(disk: Any, stream: BinaryIO) -> Extent:
    """The fastest reader for one of dissect's extent objects; dissect's own stream for unknown kinds."""
    if type(disk) is RawDisk:
        return _FlatExtent(disk)
    if type(disk) is SparseDisk and not disk.is_sesparse and bytes(disk.header.magic) == _SPARSE_MAGIC:
        return _SparseExtent(disk)
    return _FallbackExtent(int(disk.offset), int(disk.size), stream)
