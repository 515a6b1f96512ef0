"""List every file of an NTFS volume by reading its $MFT in one sequential pass (``scan_mft``).

The pass is split by job: ``ntfs_mft_read`` reads the $MFT's runs in 4 MiB chunks, ``ntfs_mft_parse``
decodes the FILE records of each chunk (fixups, names, sizes, times, reparse points), ``ntfs_mft_rows``
builds folder paths from parent references and emits catalog rows, ``ntfs_mft_blocks`` hashes blocks of
records so a later pass can skip the unchanged ones, and ``ntfs_listing`` gives the catalog a whole or
incremental listing. ``ntfs_mft_format`` holds the on-disk constants they share.

The pass is CPU-bound Python: run it in a worker process (``index_disk`` is one), never in the UI's thread.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import BinaryIO

from vmrestore.disks.ntfs_mft_parse import MftParser, MftScanStats
from vmrestore.disks.ntfs_mft_read import MftLayout, read_mft
from vmrestore.model import FileEntry


def scan_mft(volume: BinaryIO, layout: MftLayout, what: str, stats: MftScanStats | None = None) -> Iterator[FileEntry]:
    """Read the $MFT once, sequentially, and yield every file, directory and link of the volume.

    ``stats`` (if given) is filled in as the pass runs: corrupt, orphan and hidden counts, timings.
    """
    stats = stats if stats is not None else MftScanStats()
    parser = MftParser(layout.record_size, stats)
    read_s = 0.0
    parse_s = 0.0
    chunks = read_mft(volume, layout)
    # The pass makes ~2 objects per record and no reference cycles: the cyclic collector would only
    # re-traverse the growing tables (measured: a third of the scan time). Pause it for the pass, then
    # freeze the tables while entries are produced, so later collections skip them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for buf in chunks:
            t1 = time.perf_counter()
            read_s += t1 - t0
            parser.feed(buf)
            t0 = time.perf_counter()
            parse_s += t0 - t1
        read_s += time.perf_counter() - t0
    finally:
        if collecting:
            gc.enable()
    stats.read_seconds = read_s
    stats.parse_seconds = parse_s
    gc.freeze()
    try:
        yield from parser.entries(what)
    finally:
        gc.unfreeze()
