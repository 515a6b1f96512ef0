"""Decode the FILE records of the $MFT's chunks: only the fields the catalog stores, with ``struct``
straight out of the chunk buffer.

dissect's directory walk reads index buffers scattered over the volume and builds a cstruct object for every
attribute header: about 19,000 files/s here, and ``mft.segments()`` about 1,900 (TESTING.md). Indexing a
volume does not need any of that: every file has a FILE record in the $MFT that names its parent directory.
Per record:

- the record header: signature, update-sequence fixups (a torn write is detected here), in-use flag,
  directory flag, sequence number, base record (extension records carry attributes of another record);
- ``$STANDARD_INFORMATION``: the modification time;
- ``$FILE_NAME``: parent reference and name, one per hard link; DOS 8.3 aliases are skipped;
- unnamed ``$DATA``: the size (resident value length, or the non-resident real size from the extent that
  starts at VCN 0);
- ``$REPARSE_POINT``: symlinks and junctions become ``FileType.SYMLINK`` with their print name, never
  followed.

Attributes that overflowed into extension records (a file with many hard links, a very fragmented file;
the base record then has an ``$ATTRIBUTE_LIST``) are found through each extension record's base reference
and merged into their base record after the pass, checking the base's sequence number.

A damaged FILE record is skipped and counted; the rest of the volume is still indexed. A damaged
record 0 ($MFT itself) or root directory raises :class:`CorruptImage` (``check``).
``rows`` hands the parsed table to ``ntfs_mft_rows`` once the pass is done.

Speed (200,000 files, benchmarks/index_e2e.py): the update sequence fixups of a whole 4 MiB chunk are
checked and applied with extended slices (C loops) when every record uses the NTFS 3.x layout
(``_bulk_fixups``), else record by record; names are decoded by the C codec. ``feed`` is one loop over the
chunk's records with every helper bound to a local: keep function calls out of it.

With a ``Reuse`` of the previous point's pass (``ntfs_mft_blocks``), blocks of 8 records whose SHA-1 is
unchanged are not parsed at all.
"""

from __future__ import annotations

import codecs
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from vmrestore.disks.ntfs_mft_blocks import Reuse, hash_blocks
from vmrestore.disks.ntfs_mft_format import (
    _ATTR,
    _ATTRIBUTE_LIST,
    _DATA,
    _END,
    _FILE_NAME,
    _FILE_NAME_HEAD,
    _HEADER,
    _IN_USE,
    _IS_DIR,
    _NONRESIDENT_SIZE,
    _NS_DOS,
    _REF_MASK,
    _REPARSE_HEAD,
    _REPARSE_POINT,
    _STANDARD_INFORMATION,
    _STRIDE,
    _TAG_UNREADABLE,
    _U64,
    ROOT_RECORD,
    TAG_MOUNT_POINT,
    TAG_SYMLINK,
    _Name,
    _Record,
)
from vmrestore.disks.ntfs_mft_rows import _emit, _Paths, entries_of
from vmrestore.errors import CorruptImage
from vmrestore.listing import Row
from vmrestore.model import FileEntry


@dataclass
class MftScanStats:
    """What one pass saw. ``corrupt_records`` keeps the first 100 damaged record numbers for the log."""

    record_size: int = 0
    mft_bytes: int = 0
    records: int = 0  # record slots read
    in_use: int = 0  # base records in use
    extension_records: int = 0
    stale_extensions: int = 0  # extension records whose base record is gone or reused
    corrupt: int = 0
    hidden: int = 0  # names of metafiles and of everything below $Extend
    orphans: int = 0  # names whose parent chain is broken (deleted, reused, damaged parent, cycle)
    entries: int = 0  # FileEntry values produced
    read_seconds: float = 0.0
    parse_seconds: float = 0.0
    corrupt_records: list[int] = field(default_factory=list)


class MftParser:
    """Feed it the $MFT's bytes in order (:meth:`feed`), then ask for the files (:meth:`rows` or :meth:`entries`).

    With ``reuse`` (what the previous restore point's pass of the same volume left, see ``ntfs_listing``), a
    record whose bytes hash the same as in that pass is not parsed again: its result is taken over.
    ``digests`` then holds every record's hash, for the next pass.
    """

    def __init__(self, record_size: int, stats: MftScanStats | None = None, reuse: Reuse | None = None,
                 digests: bool = False) -> None:
        if record_size < _STRIDE or record_size % _STRIDE:
            raise ValueError(f"record size {record_size} is not a multiple of {_STRIDE}")
        self.record_size = record_size
        self.stats = stats if stats is not None else MftScanStats()
        self.stats.record_size = record_size
        self.records: dict[int, _Record] = {}
        # (base reference, size or -1, names, own record number) of extension records, merged after the pass
        self.extensions: list[tuple[int, int, list[_Name], int]] = []
        # Records whose result depends on more than their own bytes or that must be looked at again:
        # extension records, base records with an $ATTRIBUTE_LIST, damaged records.
        self.special: set[int] = set()
        self.changed: list[int] = []  # with ``reuse``: the record numbers that were parsed again
        self.reuse = reuse
        self.digests: array[int] | None = array("Q") if digests or reuse is not None else None
        self.before: dict[int, _Record | None] = {}  # with ``reuse``: the previous results of changed records
        if reuse is not None:
            self.records = reuse.records  # taken over as a whole, changed records replaced in place
        self._next = 0  # record number of the next record fed
        self.merge_touched: set[int] = set()  # base records that extension records were merged into
        self._rows: tuple[list[Row], dict[int, str]] | None = None

    def _corrupt(self, number: int) -> None:
        self.stats.corrupt += 1
        self.special.add(number)
        if len(self.stats.corrupt_records) < 100:
            self.stats.corrupt_records.append(number)

    def feed(self, buf: bytearray) -> None:
        """Parse the whole records in ``buf`` (fixups are applied in place)."""
        rs = self.record_size
        usa_count = rs // _STRIDE + 1
        first = self._next
        count = len(buf) // rs
        self._next += count
        self.stats.records += count
        self.stats.mft_bytes += count * rs
        fixed = _bulk_fixups(buf, rs, count)
        records = self.records
        special = self.special
        changed = self.changed.append
        header = _HEADER.unpack_from
        attr_head = _ATTR.unpack_from
        file_name = _FILE_NAME_HEAD.unpack_from
        u64 = _U64.unpack_from
        nonresident = _NONRESIDENT_SIZE.unpack_from
        utf16 = codecs.utf_16_le_decode  # the C codec itself, without the Python-level wrapper
        view = memoryview(buf)
        todo: Iterable[int] = range(count)
        if self.digests is not None:
            todo = hash_blocks(view, first, count, rs, self.digests, self.reuse)
        reuse = self.reuse
        before = self.before
        for i in todo:
            off = i * rs
            number = first + i
            if reuse is not None:
                changed(number)
                if number not in before:
                    before[number] = records.pop(number, None)
            sig, usa_ofs, usa_cnt, _lsn, seq, _links, attr_ofs, flags, _used, _alloc, base = header(buf, off)
            if sig != b"FILE":
                if sig != b"\0\0\0\0":  # never-used slots are zero; "BAAD" or garbage is damage
                    self._corrupt(number)
                continue
            if not flags & _IN_USE:
                continue  # deleted: its name must not come back
            if usa_cnt != usa_count or usa_ofs < 8 or usa_ofs + 2 * usa_cnt > rs or attr_ofs + 8 > rs:
                self._corrupt(number)
                continue
            if not fixed:
                # Update sequence: each 512-byte block ends in the sequence number while on disk; the real
                # bytes live in the array. A mismatch means a torn or damaged write.
                u = off + usa_ofs
                usn = buf[u : u + 2]
                torn = False
                for k in range(1, usa_cnt):
                    tail = off + k * _STRIDE - 2
                    if buf[tail : tail + 2] != usn:
                        torn = True
                        break
                    buf[tail : tail + 2] = buf[u + 2 * k : u + 2 * k + 2]
                if torn:
                    self._corrupt(number)
                    continue
            end = off + rs
            p = off + attr_ofs
            size = -1
            mtime = -1
            tag = 0
            target: str | None = None
            names: list[_Name] = []
            bad = False
            while True:
                if p + 22 > end:
                    bad = p + 4 > end or buf[p : p + 4] != b"\xff\xff\xff\xff"
                    break
                atype, alen, nonres, nlen, _noff, _aflags, _aid, vlen, voff = attr_head(buf, p)
                if atype == _END:
                    break
                if alen < 24 or p + alen > end:
                    bad = True
                    break
                if atype == _FILE_NAME:
                    v = p + voff
                    if nonres or voff + 66 > alen:
                        bad = True
                        break
                    parent, chars, namespace = file_name(buf, v)
                    if voff + 66 + 2 * chars > alen:
                        bad = True
                        break
                    if namespace != _NS_DOS:
                        names.append((parent, utf16(buf[v + 66 : v + 66 + 2 * chars], "replace")[0], namespace))
                elif atype == _STANDARD_INFORMATION:
                    if not nonres and vlen >= 16 and voff + 16 <= alen:
                        mtime = u64(buf, p + voff + 8)[0]
                elif atype == _DATA:
                    if nlen == 0:  # the unnamed stream; named ones are alternate data streams
                        if not nonres:
                            size = vlen
                        elif alen >= 0x38:
                            lowest_vcn, real_size = nonresident(buf, p + 0x10)
                            if lowest_vcn == 0:
                                size = real_size
                elif atype == _REPARSE_POINT:
                    tag, target = _reparse(buf, p, nonres, voff, vlen, alen)
                elif atype == _ATTRIBUTE_LIST:
                    special.add(number)
                p += alen
            if bad:
                self._corrupt(number)
                continue
            if base:
                special.add(number)
                self.extensions.append((base, size, names, number))
            else:
                records[number] = (seq, flags, size, mtime, tag, target, names)


    def merge_extensions(self) -> set[int]:
        """Fold extension records into their base records; returns the base record numbers that got some."""
        records = self.records
        self.stats.extension_records = len(self.extensions)
        touched: set[int] = set()
        for base, size, names, _own in self.extensions:
            number = base & _REF_MASK
            rec = records.get(number)
            if rec is None or rec[0] != base >> 48:
                self.stats.stale_extensions += 1
                continue
            # A new tuple and list: a result taken over from a previous pass is never changed in place.
            records[number] = (rec[0], rec[1], size if size >= 0 else rec[2], rec[3], rec[4], rec[5], rec[6] + names)
            touched.add(number)
        self.extensions.clear()
        self.merge_touched |= touched
        return touched

    @property
    def next_record(self) -> int:
        """The number of the next record :meth:`feed` expects (the records fed so far)."""
        return self._next

    def check(self, what: str) -> int:
        """The root directory's file reference; raises ``CorruptImage`` when record 0 or the root is damaged."""
        records = self.records
        if 0 not in records:
            raise CorruptImage(f"{what}: $MFT record 0 (the $MFT's own record) is damaged")
        root = records.get(ROOT_RECORD)
        if root is None or not root[1] & _IS_DIR:
            raise CorruptImage(f"{what}: the root directory's MFT record is damaged")
        return (root[0] << 48) | ROOT_RECORD

    def rows(self, what: str = "volume") -> tuple[list[Row], dict[int, str]]:
        """Every name reachable from the root as a catalog row keyed by its folder's file reference, and
        those folders' paths ("/" for the root). What :meth:`GuestFileSystem.walk` would list."""
        if self._rows is not None:
            return self._rows
        started = time.perf_counter()
        self.merge_extensions()
        root_ref = self.check(what)
        stats = self.stats
        stats.in_use = len(self.records)
        paths = _Paths(self.records, root_ref)
        out: list[Row] = []
        stats.hidden, stats.orphans = _emit(self.records, self.records, paths, out)
        stats.entries = len(out)
        folders = paths.folders()
        stats.parse_seconds += time.perf_counter() - started
        self._rows = (out, folders)
        return self._rows

    def entries(self, what: str = "volume") -> Iterator[FileEntry]:
        """Every name reachable from the root, as :meth:`GuestFileSystem.walk` would list it (any order)."""
        rows, folders = self.rows(what)
        yield from entries_of(rows, folders)


def _bulk_fixups(buf: bytearray, rs: int, count: int) -> bool:
    """Apply the update sequence fixups of every record of ``buf`` at once, with extended slices (C loops).

    Only when every record uses the layout NTFS 3.x writes (array at offset 48, one entry per 512 bytes) and
    no record is torn; otherwise nothing is changed and False sends the parser record by record. Zero
    (never-used) slots pass the checks and are left zero.
    """
    if count == 0:
        return False
    sectors = rs // _STRIDE
    zero = bytes(count)
    stop = count * rs

    def column(at: int) -> bytes:  # byte ``at`` of every record
        return bytes(buf[at:stop:rs])

    if column(4).replace(b"\x30", b"\0") != zero or column(5) != zero:
        return False
    if column(6).replace(bytes([sectors + 1]), b"\0") != zero or column(7) != zero:
        return False
    usn = (column(48), column(49))
    for k in range(1, sectors + 1):
        tail = k * _STRIDE - 2
        if column(tail) != usn[0] or column(tail + 1) != usn[1]:
            return False
    for k in range(1, sectors + 1):
        tail = k * _STRIDE - 2
        buf[tail:stop:rs] = column(48 + 2 * k)
        buf[tail + 1 : stop : rs] = column(49 + 2 * k)
    return True


def _reparse(buf: bytearray, p: int, nonres: int, voff: int, vlen: int, alen: int) -> tuple[int, str | None]:
    """(tag, print name) of a $REPARSE_POINT; the target is only read for symlinks and junctions."""
    if nonres:
        return _TAG_UNREADABLE, None
    if vlen < 8 or voff + vlen > alen:
        return _TAG_UNREADABLE, None
    v = p + voff
    tag = _U64.unpack_from(buf, v)[0] & 0xFFFFFFFF
    if tag not in (TAG_SYMLINK, TAG_MOUNT_POINT) or vlen < 16:
        return tag, None
    _tag, _dlen, _res, _so, _sl, print_off, print_len = _REPARSE_HEAD.unpack_from(buf, v)
    path_buffer = v + 8 + (12 if tag == TAG_SYMLINK else 8)
    start = path_buffer + print_off
    if start + print_len > v + vlen:
        return tag, ""
    return tag, buf[start : start + print_len].decode("utf-16-le", "replace")
