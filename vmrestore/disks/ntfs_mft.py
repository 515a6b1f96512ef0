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

The pass is CPU-bound Python: run it in a worker process (``index_disk`` is one), never in the UI's thread.
"""

from __future__ import annotations

import gc
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from vmrestore.errors import CorruptImage
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

# Per record after the pass: (sequence, header flags, size or -1, raw mtime or -1, reparse tag, target, names)
_Name = tuple[int, str, int]  # parent reference, name, namespace
_Record = tuple[int, int, int, int, int, str | None, list[_Name]]


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


def read_mft(volume: BinaryIO, layout: MftLayout, chunk: int = CHUNK) -> Iterator[bytearray]:
    """The $MFT's bytes in order, as buffers of whole records (about ``chunk`` bytes each)."""
    rs = layout.record_size
    chunk = max(rs, chunk - chunk % rs)
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


class MftParser:
    """Feed it the $MFT's bytes in order (:meth:`feed`), then ask for the entries (:meth:`entries`)."""

    def __init__(self, record_size: int, stats: MftScanStats | None = None) -> None:
        if record_size < _STRIDE or record_size % _STRIDE:
            raise ValueError(f"record size {record_size} is not a multiple of {_STRIDE}")
        self.record_size = record_size
        self.stats = stats if stats is not None else MftScanStats()
        self.stats.record_size = record_size
        self.records: dict[int, _Record] = {}
        # (base reference, size or -1, names) of extension records, merged after the pass
        self.extensions: list[tuple[int, int, list[_Name]]] = []
        self._next = 0  # record number of the next record fed

    def _corrupt(self, number: int) -> None:
        self.stats.corrupt += 1
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
        records = self.records
        header = _HEADER.unpack_from
        attr_head = _ATTR.unpack_from
        file_name = _FILE_NAME_HEAD.unpack_from
        u64 = _U64.unpack_from
        nonresident = _NONRESIDENT_SIZE.unpack_from
        for i in range(count):
            off = i * rs
            sig, usa_ofs, usa_cnt, _lsn, seq, _links, attr_ofs, flags, _used, _alloc, base = header(buf, off)
            if sig != b"FILE":
                if sig != b"\0\0\0\0":  # never-used slots are zero; "BAAD" or garbage is damage
                    self._corrupt(first + i)
                continue
            if not flags & _IN_USE:
                continue  # deleted: its name must not come back
            if usa_cnt != usa_count or usa_ofs < 8 or usa_ofs + 2 * usa_cnt > rs or attr_ofs + 8 > rs:
                self._corrupt(first + i)
                continue
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
                self._corrupt(first + i)
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
                    names.append((parent, buf[v + 66 : v + 66 + 2 * chars].decode("utf-16-le", "replace"), namespace))
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
                p += alen
            if bad:
                self._corrupt(first + i)
                continue
            if base:
                self.extensions.append((base, size, names))
            else:
                records[first + i] = (seq, flags, size, mtime, tag, target, names)

    def _merge_extensions(self) -> None:
        records = self.records
        self.stats.extension_records = len(self.extensions)
        for base, size, names in self.extensions:
            number = base & _REF_MASK
            rec = records.get(number)
            if rec is None or rec[0] != base >> 48:
                self.stats.stale_extensions += 1
                continue
            if size >= 0:
                rec = (rec[0], rec[1], size, rec[3], rec[4], rec[5], rec[6])
            rec[6].extend(names)
            records[number] = rec
        self.extensions.clear()

    def entries(self, what: str = "volume") -> Iterator[FileEntry]:
        """Every name reachable from the root, as :meth:`GuestFileSystem.walk` would list it (any order)."""
        started = time.perf_counter()
        stats = self.stats
        records = self.records
        if 0 not in records:
            raise CorruptImage(f"{what}: $MFT record 0 (the $MFT's own record) is damaged")
        self._merge_extensions()
        stats.in_use = len(records)
        root = records.get(ROOT_RECORD)
        if root is None or not root[1] & _IS_DIR:
            raise CorruptImage(f"{what}: the root directory's MFT record is damaged")
        paths = _Paths(records, (root[0] << 48) | ROOT_RECORD)
        resolve = paths.resolve
        memo = paths.memo
        times: dict[int, datetime | None] = {}
        entry = FileEntry
        kind_file, kind_dir, kind_link = FileType.FILE, FileType.DIR, FileType.SYMLINK
        for number, (_seq, flags, size, raw_mtime, tag, target, names) in records.items():
            if number < FIRST_USER_RECORD:
                if number != ROOT_RECORD:
                    stats.hidden += len(names)
                continue
            if not names:
                continue
            mtime = times.get(raw_mtime, _MISSING)
            if mtime is _MISSING:
                mtime = times[raw_mtime] = _filetime(raw_mtime)
            if tag in (TAG_SYMLINK, TAG_MOUNT_POINT, _TAG_UNREADABLE):
                kind, size, link = kind_link, 0, target or ""
            elif flags & _IS_DIR:
                kind, size, link = kind_dir, 0, None
            else:
                kind, size, link = kind_file, max(size, 0), None
            seen: set[tuple[int, str]] | None = set() if len(names) > 1 else None
            for parent_ref, name, namespace in names:
                if namespace == _NS_DOS:
                    continue
                if seen is not None:
                    key = (parent_ref & _REF_MASK, name)
                    if key in seen:
                        continue
                    seen.add(key)
                base = memo.get(parent_ref)
                if base is None:
                    base = resolve(parent_ref)
                if isinstance(base, str):
                    stats.entries += 1
                    yield entry(f"{base}/{name}", name, kind, size, mtime, link)
                elif base is _HIDDEN:
                    stats.hidden += 1
                else:
                    stats.orphans += 1
        stats.parse_seconds += time.perf_counter() - started


_MISSING: Any = object()


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
