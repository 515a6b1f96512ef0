"""An NTFS volume listed for the catalog straight from its $MFT, whole or as the changes since the last point.

``NtfsFileSystem.scan("/")`` returns an :class:`MftScan`. Iterated, it yields ``FileEntry`` values like any
reader. The catalog asks it for a :class:`~vmrestore.listing.VolumeListing` instead (rows keyed by folder,
no per-file path or datetime), and keeps the *state* that comes with it: a hash of every block of 8 FILE
records and every record's parsed result, marshalled (about 40 bytes a file).

Given the previous restore point's state, a block whose bytes hash the same is not parsed again: its
records' results are taken over. A consecutive backup of a VM shares nearly every FILE record with the
previous one (a record is rewritten only when its file's metadata changes), so only the changed blocks are
parsed, and only the files whose result differs become rows; their previous paths are listed in ``gone``.
A folder renamed, moved, deleted or reused changes the paths below it although their records did not
change: every file whose folder now resolves differently is listed again too.
"""

from __future__ import annotations

import gc
import marshal
from array import array
from collections.abc import Iterator
from typing import Any, BinaryIO

from vmrestore.disks.ntfs_mft import scan_mft
from vmrestore.disks.ntfs_mft_blocks import BLOCK, Reuse
from vmrestore.disks.ntfs_mft_format import _IS_DIR, _Record
from vmrestore.disks.ntfs_mft_parse import MftParser, MftScanStats
from vmrestore.disks.ntfs_mft_read import MftLayout, read_mft
from vmrestore.disks.ntfs_mft_rows import _emit, _Paths
from vmrestore.listing import Row, VolumeListing
from vmrestore.model import FileEntry

STATE_KIND = "ntfs-mft/1"
_FORMAT = 1


class MftScan:
    """A whole-volume scan of an NTFS volume: iterate it for ``FileEntry`` values, or ask :meth:`listing`."""

    state_kind = STATE_KIND

    def __init__(self, volume: BinaryIO, layout: MftLayout, what: str, stats: MftScanStats) -> None:
        self.volume = volume
        self.layout = layout
        self.what = what
        self.stats = stats

    def __iter__(self) -> Iterator[FileEntry]:
        return scan_mft(self.volume, self.layout, self.what, self.stats)

    def listing(self, previous: bytes | None) -> VolumeListing:
        collecting = gc.isenabled()
        gc.disable()  # no reference cycles are made; the collector would only re-walk the growing tables
        try:
            old = _load(previous, self.layout) if previous else None
            reuse = Reuse.of(old.digests, old.records, old.special) if old is not None else None
            parser = MftParser(self.layout.record_size, self.stats, reuse=reuse, digests=True)
            for buf in read_mft(self.volume, self.layout, align=BLOCK):
                parser.feed(buf)
            if old is None:
                rows, folders = parser.rows(self.what)
                state = _dump(parser, self.layout, parser.merge_touched, len(rows))
                return VolumeListing(rows, folders, len(rows), STATE_KIND, state)  # type: ignore[arg-type]
            return _changes(parser, old, self.layout, self.what)
        finally:
            if collecting:
                gc.enable()


class _State:
    def __init__(self, digests: array[int], records: dict[int, _Record], special: list[int], root_ref: int,
                 entries: int, hidden: int, orphans: int) -> None:
        self.digests = digests
        self.records = records
        self.special = special
        self.root_ref = root_ref
        self.entries = entries
        self.hidden = hidden
        self.orphans = orphans


def _dump(parser: MftParser, layout: MftLayout, touched: set[int], entries: int) -> bytes:
    digests = parser.digests
    assert digests is not None
    root = parser.records[5]
    stats = parser.stats
    special = sorted(parser.special | touched)
    return marshal.dumps((_FORMAT, layout.record_size, BLOCK, digests.tobytes(), parser.records, special,
                          (root[0] << 48) | 5, entries, stats.hidden, stats.orphans))


def _load(state: bytes, layout: MftLayout) -> _State | None:
    """The previous pass, or None when the state is of another format or record size (then list it all)."""
    try:
        fmt, record_size, block, digests, records, special, root_ref, entries, hidden, orphans = marshal.loads(state)
    except (ValueError, EOFError, TypeError):
        return None
    if fmt != _FORMAT or record_size != layout.record_size or block != BLOCK:
        return None
    table: array[int] = array("Q")
    table.frombytes(digests)
    return _State(table, records, special, root_ref, entries, hidden, orphans)


def _changes(parser: MftParser, old: _State, layout: MftLayout, what: str) -> VolumeListing:
    records = parser.records  # the previous pass's dict, changed records replaced
    before = parser.before
    limit = parser.next_record
    if records and max(records) >= limit:  # the $MFT shrank
        for number in [n for n in records if n >= limit]:
            before.setdefault(number, records.pop(number))
    touched = parser.merge_extensions()
    root_ref = parser.check(what)
    candidates = set(before) | touched | set(old.special)

    def old_rec(n: int) -> _Record | None:
        return before[n] if n in before else records.get(n)

    changed = {n for n in candidates if old_rec(n) != records.get(n)}
    old_records = _Before(records, before)
    old_paths = _Paths(old_records, old.root_ref)  # type: ignore[arg-type]
    new_paths = _Paths(records, root_ref)
    if root_ref != old.root_ref or any(_is_dir(old_rec(n)) or _is_dir(records.get(n)) for n in changed):
        # A folder changed: every folder's path is compared, and the files in a folder whose path (or
        # reachability) differs are listed again, although their own records are unchanged.
        tables = (old_records.items(), records.items())
        refs = {(rec[0] << 48) | n for table in tables for n, rec in table if rec[1] & _IS_DIR}
        moved = {ref for ref in refs if old_paths.resolve(ref) != new_paths.resolve(ref)}
        if moved:
            for table in (old_records.items(), records.items()):
                changed.update(n for n, rec in table if any(name[0] in moved for name in rec[6]))
    order = sorted(changed)
    old_rows: list[Row] = []
    old_hidden, old_orphans = _emit(old_records, order, old_paths, old_rows)  # type: ignore[arg-type]
    old_folders: dict[Any, str] = old_paths.folders()
    gone = [f"/{name}" if old_folders[folder] == "/" else f"{old_folders[folder]}/{name}"
            for folder, name, *_rest in old_rows]
    rows: list[Row] = []
    hidden, orphans = _emit(records, order, new_paths, rows)
    stats = parser.stats
    stats.in_use = len(records)
    stats.hidden = old.hidden - old_hidden + hidden
    stats.orphans = old.orphans - old_orphans + orphans
    entries = old.entries - len(old_rows) + len(rows)
    stats.entries = entries
    state = _dump(parser, layout, touched, entries)
    folders: dict[Any, str] = new_paths.folders()
    return VolumeListing(rows, folders, entries, STATE_KIND, state, complete=False, gone=gone)


class _Before:
    """The previous pass's records, read through: this pass's table with the replaced results put back."""

    def __init__(self, records: dict[int, _Record], before: dict[int, _Record | None]) -> None:
        self.records = records
        self.before = before

    def get(self, number: int, default: _Record | None = None) -> _Record | None:
        if number in self.before:
            return self.before[number]
        return self.records.get(number, default)

    def items(self) -> Iterator[tuple[int, _Record]]:
        for number, rec in self.records.items():
            if number not in self.before:
                yield number, rec
        for number, old in self.before.items():
            if old is not None:
                yield number, old


def _is_dir(rec: _Record | None) -> bool:
    return rec is not None and bool(rec[1] & _IS_DIR)
