"""Read a file's disk segments on a helper thread while the caller writes the chunk before.

Extraction alternates two kinds of work that both leave the GIL: reading (waiting for the backup's disk,
copying out of the page cache, inflating streamOptimized grains) and writing the restored file. Done in
turn on one thread, a cold read sits idle while the previous chunk is written, and the write waits while
the next chunk is read: the time is read + write. With one reader thread a few chunks ahead it is the
larger of the two (measured by ``benchmarks/extract_speed.py``).

The chunks are a small ring of reusable buffers, so a terabyte costs no more memory than a megabyte and
no buffer is allocated (or zero-filled) per chunk. The caller sees each chunk in file order; a chunk's
view is valid until the next one is taken. Errors of the reader (a damaged grain, an unreadable backup
file) surface in the caller's thread as :class:`CorruptImage`, at the chunk where they happened.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import cast

from vmrestore.errors import CorruptImage

# A piece of a file: (disk byte offset, or None for a hole that reads as zeros, length in bytes).
Segment = tuple[int | None, int]
ReadAt = Callable[[int, memoryview], None]

CHUNK = 1024 * 1024  # one read inline; measured: larger chunks cost more CPU (the copy leaves the cache)
THREAD_CHUNK = 4 * CHUNK  # one hand-off to the writer: few per GiB, each costs a wake-up (long on a busy machine)
DEPTH = 3  # buffers in the ring: one being filled, one waiting, one being written
_THREAD_FROM = 3 * THREAD_CHUNK  # smaller files are read inline: a thread per small file costs more than it saves

_END = object()


def chunk_fills(segments: list[Segment], chunk: int = CHUNK) -> Iterator[list[tuple[int | None, int]]]:
    """The file cut into buffer-sized chunks; each chunk lists its (disk offset or None, length) pieces.

    A chunk packs several short segments (a fragmented file) so every read and write stays large.
    """
    fills: list[tuple[int | None, int]] = []
    room = chunk
    for at, length in segments:
        done = 0
        while done < length:
            n = min(length - done, room)
            fills.append((None if at is None else at + done, n))
            done += n
            room -= n
            if room == 0:
                yield fills
                fills, room = [], chunk
    if fills:
        yield fills


def _fill(read_at: ReadAt, buffer: memoryview, fills: list[tuple[int | None, int]], what: str) -> int:
    pos = 0
    for at, n in fills:
        view = buffer[pos : pos + n]
        if at is None:
            view[:] = bytes(n)
        else:
            try:
                read_at(at, view)
            except OSError as exc:  # an unreadable backup file: this file is skipped, as on the slow path
                raise CorruptImage(f"{what}: cannot read the disk image: {exc}") from exc
        pos += n
    return pos


class SegmentReader:
    """Iterate a file's bytes as chunks (memoryviews), read ahead on a thread for files of a few chunks.

    Use as a context manager: leaving it (also by an exception or a cancel in the caller) stops the
    reader thread and waits for it, so no read outlives the extraction of the file.
    """

    def __init__(self, read_at: ReadAt, segments: list[Segment], what: str, read_ahead: bool = True) -> None:
        self._read_at = read_at
        self._segments = segments
        self._what = what
        total = sum(length for _at, length in segments)
        self._threaded = read_ahead and total >= _THREAD_FROM
        self._chunk = THREAD_CHUNK if self._threaded else CHUNK
        self._free: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        # (buffer, bytes filled), then _END; or the reader's exception
        self._full: queue.SimpleQueue[tuple[memoryview, int] | BaseException | object] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SegmentReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._free.put(None)  # wakes a reader waiting for a free buffer
            self._thread.join()
            self._thread = None

    def __iter__(self) -> Iterator[memoryview]:
        if not self._threaded:
            buffer = memoryview(bytearray(self._chunk))
            for fills in chunk_fills(self._segments, self._chunk):
                yield buffer[: _fill(self._read_at, buffer, fills, self._what)]
            return
        for _ in range(DEPTH):
            self._free.put(memoryview(bytearray(self._chunk)))
        self._thread = threading.Thread(target=self._work, name="vmdk-readahead", daemon=True)
        self._thread.start()
        while True:
            item = self._full.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            buffer, filled = cast(tuple[memoryview, int], item)
            yield buffer[:filled]
            self._free.put(buffer)

    def _work(self) -> None:
        try:
            for fills in chunk_fills(self._segments, self._chunk):
                buffer = self._free.get()
                if buffer is None or self._stop.is_set():
                    return
                self._full.put((buffer, _fill(self._read_at, buffer, fills, self._what)))
            self._full.put(_END)
        except BaseException as exc:  # handed to the caller's thread, raised there
            self._full.put(exc)
