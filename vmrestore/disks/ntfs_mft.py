"""List every file of an NTFS volume by reading its $MFT in one sequential pass.

dissect's directory walk reads index buffers scattered over the volume and builds a cstruct object for every
attribute header: about 19,000 files/s here, and ``mft.segments()`` about 1,900 (TESTING.md). Indexing a
volume does not need any of that: every file has a FILE record in the $MFT that names its parent directory.
So this module reads the $MFT's bytes in large sequential chunks and decodes only the fields the catalog
stores, with ``struct`` straight out of the chunk buffer:

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

Paths are built from parent references once the pass is done; a parent reference whose sequence number no
longer matches (the directory was deleted and its record reused), a missing or non-directory parent, or a
cycle makes the name an *orphan*: it is skipped and counted, like names below the metafiles (records < 24
and the ``$Extend`` tree), so the result is exactly what :meth:`NtfsFileSystem.walk` lists. A damaged FILE
record is skipped and counted; the rest of the volume is still indexed. A damaged record 0 ($MFT itself)
or root directory raises :class:`CorruptImage`.

Speed (200,000 files, benchmarks/index_e2e.py): the update sequence fixups of a whole 4 MiB chunk are
checked and applied with extended slices (C loops) when every record uses the NTFS 3.x layout, else
record by record; names are decoded by the C codec; the result is handed to the catalog as rows keyed by
the parent's file reference (``rows``), so a path string is built once per folder, not once per file, and
times stay integer microseconds. ``FileEntry`` values (``entries``) are made from those rows.

With a ``Reuse`` of the previous point's pass (``ntfs_listing``), blocks of 8 records whose SHA-1 is
unchanged are not parsed at all.

The pass is CPU-bound Python: run it in a worker process (``index_disk`` is one), never in the UI's thread.
"""

from __future__ import annotations

import codecs
import gc
import hashlib
import struct
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from vmrestore.errors import CorruptImage
from vmrestore.listing import TYPE_CODES, Row
from vmrestore.model import FileEntry, FileType

FIRST_USER_RECORD = 24  # records 0-23: $MFT, $MFTMirr, $LogFile, ..., $Extend (11), reserved
ROOT_RECORD = 5
_REF_MASK = (1 << 48) - 1  # a file reference: 48-bit record number, 16-bit sequence number
_STRIDE = 512  # update sequence arrays protect the last two bytes of every 512-byte block
_READ_PIECE = 1 << 20  # 1 MiB reads are the fastest through a sparse VMDK (TESTING.md)
CHUNK = 4 << 20  # records are parsed 4 MiB at a time

_IN_USE = 0x0001
_IS_DIR = 0x0002  # FILE_FILE_NAME_INDEX_PRESENT
_NS_DOS = 2  # a DOS-only 8.3 alias of a name that also exists in long form

_END = 0xFFFFFFFF
_STANDARD_INFORMATION = 0x10
_ATTRIBUTE_LIST = 0x20
_FILE_NAME = 0x30
_DATA = 0x80
_REPARSE_POINT = 0xC0
TAG_MOUNT_POINT = 0xA0000003  # junctions and volume mount points
TAG_SYMLINK = 0xA000000C
_TAG_UNREADABLE = -1  # a reparse point whose data we cannot read here (non-resident)

# signature, usa offset, usa count, $LogFile LSN, sequence, link count, first attribute, flags,
# bytes in use, bytes allocated, base record reference
_HEADER = struct.Struct("<4sHHQHHHHIIQ")
# type, length, non-resident, name length, name offset, flags, id, (resident) value length, value offset
_ATTR = struct.Struct("<IIBBHHHIH")
_FILE_NAME_HEAD = struct.Struct("<Q56xBB")  # parent reference ... name length (chars), namespace
_NONRESIDENT_SIZE = struct.Struct("<Q24xQ")  # lowest VCN at +0x10 ... real size at +0x30
_REPARSE_HEAD = struct.Struct("<IHHHHHH")  # tag, data length, reserved, subst off/len, print off/len
_U64 = struct.Struct("<Q")
_WINDOWS_EPOCH_S = 11_644_473_600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_KINDS = {code: kind for kind, code in TYPE_CODES.items()}

# Per record after the pass: (sequence, header flags, size or -1, raw mtime or -1, reparse tag, target, names)
_Name = tuple[int, str, int]  # parent reference, name, namespace
_Record = tuple[int, int, int, int, int, str | None, list[_Name]]


BLOCK = 8  # records hashed together: with 1 % of the files changed, ~8 % of the blocks are parsed again


@dataclass(frozen=True, slots=True)
class Reuse:
    """What a previous pass over the same volume's $MFT left: a hash per ``BLOCK`` records, the base
    records' results (this pass takes the dict over and changes it), and the records that are always
    parsed again (``MftParser.special``: extension records, base records with an attribute list, damage)."""

    digests: array[int]
    records: dict[int, _Record]
    special: frozenset[int]
    special_blocks: frozenset[int] = frozenset()

    @classmethod
    def of(cls, digests: array[int], records: dict[int, _Record], special: Iterable[int]) -> Reuse:
        special = frozenset(special)
        return cls(digests, records, special, frozenset(n // BLOCK for n in special))


@dataclass(frozen=True, slots=True)
class MftLayout:
    """Where the $MFT's bytes are on the volume: ``runs`` of (first cluster or None when sparse, clusters)."""

    record_size: int
    cluster_size: int
    size: int
    runs: tuple[tuple[int | None, int], ...]


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
            todo = self._blocks(view, first, count)
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

    def _blocks(self, view: memoryview, first: int, count: int) -> Iterable[int]:
        """Hash every block of ``BLOCK`` records; with ``reuse``, the indexes (in this buffer) of the records
        of the blocks that differ from the previous pass or hold a record that is always parsed again."""
        rs = self.record_size
        digests = self.digests
        assert digests is not None and first % BLOCK == 0
        sha1 = hashlib.sha1
        from_bytes = int.from_bytes
        reuse = self.reuse
        span = BLOCK * rs
        total = count * rs
        block = first // BLOCK
        todo: list[int] = []
        for start in range(0, total, span):
            piece = view[start : min(start + span, total)]
            digest = from_bytes(sha1(piece).digest()[:8], "little")
            digests.append(digest)
            if reuse is not None and (block >= len(reuse.digests) or reuse.digests[block] != digest
                                      or block in reuse.special_blocks):
                todo.extend(range(start // rs, min(start + span, total) // rs))
            block += 1
        return todo if reuse is not None else range(count)

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


def entries_of(rows: Iterable[Row], folders: dict[Any, str]) -> Iterator[FileEntry]:
    """Catalog rows back into ``FileEntry`` values (browsing, tests, stores without the fast path)."""
    times: dict[int | None, datetime | None] = {None: None}
    kinds = _KINDS
    for folder, name, code, size, mtime_us, target in rows:
        base = folders.get(folder)
        if base is None:
            continue
        mtime = times.get(mtime_us, _MISSING)
        if mtime is _MISSING:
            assert mtime_us is not None
            mtime = times[mtime_us] = _EPOCH + timedelta(microseconds=mtime_us)
        path = f"/{name}" if base == "/" else f"{base}/{name}"
        yield FileEntry(path, name, kinds[code], size, mtime, target)


def _emit(records: dict[int, _Record], numbers: Iterable[int], paths: _Paths, out: list[Row]) -> tuple[int, int]:
    """Append the rows of ``numbers`` (records in ``records``) to ``out``; returns (hidden, orphans) names."""
    append = out.append
    memo = paths.memo
    resolve = paths.resolve
    micros: dict[int, int | None] = {}
    hidden = orphans = 0
    code_file, code_dir, code_link = TYPE_CODES[FileType.FILE], TYPE_CODES[FileType.DIR], TYPE_CODES[FileType.SYMLINK]
    for number in numbers:
        rec = records.get(number)
        if rec is None:
            continue
        _seq, flags, size, raw_mtime, tag, target, names = rec
        if number < FIRST_USER_RECORD:
            if number != ROOT_RECORD:
                hidden += len(names)
            continue
        if not names:
            continue
        mtime_us = micros.get(raw_mtime, _NO_US)
        if mtime_us == _NO_US:
            mtime_us = micros[raw_mtime] = filetime_us(raw_mtime)
        if tag:
            if tag in (TAG_SYMLINK, TAG_MOUNT_POINT, _TAG_UNREADABLE):
                code, size, link = code_link, 0, target or ""
            elif flags & _IS_DIR:
                code, size, link = code_dir, 0, None
            else:
                code, size, link = code_file, size if size > 0 else 0, None
        elif flags & _IS_DIR:
            code, size, link = code_dir, 0, None
        else:
            code, size, link = code_file, size if size > 0 else 0, None
        if len(names) == 1:
            parent_ref, name, _ns = names[0]
            base = memo.get(parent_ref)
            if base is None:
                base = resolve(parent_ref)
            if isinstance(base, str):
                append((parent_ref, name, code, size, mtime_us, link))
            elif base is _HIDDEN:
                hidden += 1
            else:
                orphans += 1
            continue
        seen: set[tuple[int, str]] = set()
        for parent_ref, name, _ns in names:
            key = (parent_ref & _REF_MASK, name)
            if key in seen:
                continue
            seen.add(key)
            base = memo.get(parent_ref)
            if base is None:
                base = resolve(parent_ref)
            if isinstance(base, str):
                append((parent_ref, name, code, size, mtime_us, link))
            elif base is _HIDDEN:
                hidden += 1
            else:
                orphans += 1
    return hidden, orphans


def filetime_us(raw: int) -> int | None:
    """A FILETIME as integer microseconds since 1970, exactly as dissect's ``wintimestamp`` (a float
    computation, rounded half to even by ``datetime``) gives them, so both readers store the same value."""
    if raw < 0:
        return None
    dt = _filetime(raw)
    if dt is None:
        return None
    return (dt - _EPOCH) // _US


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


_MISSING: Any = object()
_NO_US = -(1 << 80)  # not a microsecond value: "not converted yet"


class _Unreachable:
    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<{self.why}>"


_HIDDEN = _Unreachable("hidden")
_ORPHAN = _Unreachable("orphan")


class _Paths:
    """Directory paths by file reference, memoised; broken chains and cycles resolve to ``_ORPHAN``."""

    def __init__(self, records: dict[int, _Record], root_ref: int) -> None:
        self.records = records
        self.memo: dict[int, str | _Unreachable] = {root_ref: ""}

    def folders(self) -> dict[int, str]:
        """Every folder resolved so far: file reference -> path ("/" for the root)."""
        return {ref: path or "/" for ref, path in self.memo.items() if isinstance(path, str)}

    def _dir_name(self, rec: _Record) -> _Name | None:
        if rec[4] or not rec[1] & _IS_DIR:  # a file, or a junction/symlink: walk() never descends into it
            return None
        for name in rec[6]:
            if name[2] != _NS_DOS:
                return name
        return None

    def resolve(self, ref: int) -> str | _Unreachable:
        memo = self.memo
        chain: list[tuple[int, str]] = []
        on_chain: set[int] = set()
        cur = ref
        result: str | _Unreachable
        while True:
            known = memo.get(cur)
            if known is not None:
                result = known
                break
            number = cur & _REF_MASK
            if number < FIRST_USER_RECORD:
                result = _HIDDEN if number != ROOT_RECORD else _ORPHAN  # the root with a stale sequence
                break
            rec = self.records.get(number)
            named = None if rec is None or rec[0] != cur >> 48 else self._dir_name(rec)
            if named is None or cur in on_chain:
                result = _ORPHAN
                break
            chain.append((cur, named[1]))
            on_chain.add(cur)
            cur = named[0]
        for link, name in reversed(chain):
            if isinstance(result, str):
                result = f"{result}/{name}"
            memo[link] = result
        if not chain:
            memo[ref] = result
        return result


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


def _filetime(raw: int) -> datetime | None:
    """The same conversion as dissect's ``wintimestamp``, so both readers store the same microseconds."""
    if raw < 0:
        return None
    try:
        return datetime.fromtimestamp(raw * 1e-7 - _WINDOWS_EPOCH_S, UTC)
    except (OverflowError, OSError, ValueError):
        return None


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
