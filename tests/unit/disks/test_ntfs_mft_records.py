"""The $MFT parser on hand-made FILE records: fixups, names, sizes, extension records, broken chains.

Records are assembled here from the on-disk layout (header, update sequence array, attribute headers), so
every branch that real images rarely reach (torn writes, reused parents, cycles, stale extension
records) is exercised on bytes whose meaning the test states.
"""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta

import pytest
from dissect.util.ts import wintimestamp

from vmrestore.disks.ntfs_mft import scan_mft
from vmrestore.disks.ntfs_mft_format import TAG_MOUNT_POINT
from vmrestore.disks.ntfs_mft_parse import MftParser, MftScanStats
from vmrestore.disks.ntfs_mft_read import MftLayout, read_mft
from vmrestore.errors import CorruptImage
from vmrestore.model import FileType

RS = 1024
ROOT = 5
T2024 = 133_543_000_001_234_567  # a FILETIME in 2024 with sub-microsecond digits


def ref(number: int, seq: int) -> int:
    return (seq << 48) | number


def _align(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


def resident(atype: int, value: bytes, name: str = "") -> bytes:
    encoded = name.encode("utf-16-le")
    voff = 24 + len(_align(encoded)) if encoded else 24
    head = struct.pack("<IIBBHHHIHBB", atype, 0, 0, len(name), 24, 0, 0, len(value), voff, 0, 0)
    body = _align(head + _align(encoded) + value) if encoded else _align(head + value)
    return body[:4] + struct.pack("<I", len(body)) + body[8:]


def nonresident_data(real_size: int, lowest_vcn: int = 0, name: str = "") -> bytes:
    encoded = name.encode("utf-16-le")
    head = struct.pack(
        "<IIBBHHHQQHH4xQQQ", 0x80, 0, 1, len(name), 64, 0, 0, lowest_vcn, lowest_vcn, 64 + len(_align(encoded)),
        0, real_size + 4095 & ~4095, real_size, real_size,
    )
    body = _align(head + _align(encoded) + b"\0")
    return body[:4] + struct.pack("<I", len(body)) + body[8:]


def std_info(mtime: int = T2024) -> bytes:
    return resident(0x10, struct.pack("<QQQQI", mtime, mtime, mtime, mtime, 0x20) + bytes(44))


def file_name(parent: int, name: str, namespace: int = 1) -> bytes:
    encoded = name.encode("utf-16-le")
    value = struct.pack("<Q32xQQIIBB", parent, 0, 0, 0, 0, len(encoded) // 2, namespace) + encoded
    return resident(0x30, value)


def data(content_size: int) -> bytes:
    return resident(0x80, b"x" * content_size)


def record(
    seq: int, attrs: list[bytes], *, in_use: bool = True, is_dir: bool = False, base: int = 0
) -> bytearray:
    usa_ofs, usa_cnt = 48, RS // 512 + 1
    attr_ofs = 56
    body = b"".join(attrs) + struct.pack("<II", 0xFFFFFFFF, 0)
    flags = (1 if in_use else 0) | (2 if is_dir else 0)
    header = struct.pack(
        "<4sHHQHHHHIIQHHI", b"FILE", usa_ofs, usa_cnt, 0, seq, 1, attr_ofs, flags, attr_ofs + len(body), RS, base,
        0, 0, 0,
    )
    rec = bytearray(RS)
    rec[: len(header)] = header
    rec[attr_ofs : attr_ofs + len(body)] = body
    assert attr_ofs + len(body) <= RS
    usn = b"\x07\x00"
    rec[usa_ofs : usa_ofs + 2] = usn
    for k in range(1, usa_cnt):  # protect each 512-byte block's last two bytes, as NTFS writes them
        tail = k * 512 - 2
        rec[usa_ofs + 2 * k : usa_ofs + 2 * k + 2] = rec[tail : tail + 2]
        rec[tail : tail + 2] = usn
    return rec


def volume(records: dict[int, bytearray], count: int = 40) -> bytearray:
    """An $MFT: record 0 and the root always present, the rest as given, other slots zero."""
    table = {0: record(1, [std_info(), file_name(ref(ROOT, ROOT), "$MFT"), nonresident_data(count * RS)])}
    table[ROOT] = record(ROOT, [std_info(), file_name(ref(ROOT, ROOT), ".")], is_dir=True)
    table[11] = record(11, [std_info(), file_name(ref(ROOT, ROOT), "$Extend")], is_dir=True)
    table.update(records)
    out = bytearray(count * RS)
    for number, rec in table.items():
        out[number * RS : (number + 1) * RS] = rec
    return out


def parse(mft: bytearray) -> tuple[dict[str, tuple[FileType, int]], MftScanStats]:
    parser = MftParser(RS)
    parser.feed(bytearray(mft))
    entries = list(parser.entries())
    paths = [e.path for e in entries]
    assert len(paths) == len(set(paths)), "a path listed twice"
    return {e.path: (e.type, e.size) for e in entries}, parser.stats


def in_root(name: str, is_dir: bool = False, size: int = 0, seq: int = 1) -> bytearray:
    attrs = [std_info(), file_name(ref(ROOT, ROOT), name)] + ([] if is_dir else [data(size)])
    return record(seq, attrs, is_dir=is_dir)


def test_tree_types_sizes_and_mtime() -> None:
    mft = volume({
        30: in_root("Users", is_dir=True),
        31: record(3, [std_info(), file_name(ref(30, 1), "alice")], is_dir=True),
        32: record(1, [std_info(), file_name(ref(31, 3), "notes.txt"), data(123)]),
        33: record(1, [std_info(), file_name(ref(31, 3), "big.iso"), nonresident_data(5 << 30)]),
        34: record(1, [std_info(), file_name(ref(31, 3), "no-data")]),
    })
    got, stats = parse(mft)
    assert got == {
        "/Users": (FileType.DIR, 0),
        "/Users/alice": (FileType.DIR, 0),
        "/Users/alice/notes.txt": (FileType.FILE, 123),
        "/Users/alice/big.iso": (FileType.FILE, 5 << 30),
        "/Users/alice/no-data": (FileType.FILE, 0),
    }
    assert stats.corrupt == stats.orphans == 0
    assert stats.hidden == 2  # $MFT and $Extend
    parser = MftParser(RS)
    parser.feed(mft)
    (entry,) = [e for e in parser.entries() if e.name == "notes.txt"]
    assert entry.mtime == wintimestamp(T2024)  # the same microseconds as dissect's walk
    assert entry.mtime is not None and entry.mtime.tzinfo == UTC and entry.mtime.year == 2024


def test_named_streams_do_not_change_the_size() -> None:
    attrs = [std_info(), file_name(ref(ROOT, ROOT), "ads.txt"), data(10), resident(0x80, b"y" * 99, "Zone.Identifier")]
    attrs.append(nonresident_data(1 << 20, name="big-stream"))
    got, _ = parse(volume({30: record(1, attrs)}))
    assert got == {"/ads.txt": (FileType.FILE, 10)}


def test_dos_alias_skipped_hard_links_listed() -> None:
    attrs = [
        std_info(),
        file_name(ref(ROOT, ROOT), "Long file name.txt", namespace=1),
        file_name(ref(ROOT, ROOT), "LONGFI~1.TXT", namespace=2),
        file_name(ref(30, 1), "link.txt", namespace=0),
        file_name(ref(30, 1), "link.txt", namespace=0),  # the same name twice: listed once
        data(5),
    ]
    got, _ = parse(volume({30: in_root("dir", is_dir=True), 31: record(1, attrs)}))
    assert got == {
        "/dir": (FileType.DIR, 0),
        "/Long file name.txt": (FileType.FILE, 5),
        "/dir/link.txt": (FileType.FILE, 5),
    }


def test_deleted_records_are_not_listed() -> None:
    deleted = record(2, [std_info(), file_name(ref(ROOT, ROOT), "gone.txt"), data(3)], in_use=False)
    got, stats = parse(volume({30: deleted, 31: in_root("kept.txt")}))
    assert got == {"/kept.txt": (FileType.FILE, 0)}
    assert stats.corrupt == 0


def test_name_across_a_sector_boundary_is_restored_by_the_fixup() -> None:
    # Padding attribute (a named, ignored $DATA stream) pushes the file name across offset 510.
    pad = resident(0x80, b"p" * 330, "pad")
    long_name = "ä" * 60 + ".txt"
    rec = record(1, [std_info(), file_name(ref(ROOT, ROOT), long_name), pad])
    assert rec[510:512] == b"\x07\x00"  # the on-disk bytes hide two name bytes
    got, _ = parse(volume({30: rec}))
    assert list(got) == ["/" + long_name]


def test_torn_record_is_skipped_and_counted() -> None:
    torn = in_root("torn.txt", size=4)
    torn[1022:1024] = b"\x08\x00"  # the second block's tail no longer carries the sequence number
    garbage = bytearray(b"BAAD" + bytes(RS - 4))
    got, stats = parse(volume({30: torn, 31: garbage, 32: in_root("ok.txt")}))
    assert got == {"/ok.txt": (FileType.FILE, 0)}
    assert (stats.corrupt, stats.corrupt_records) == (2, [30, 31])


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.__setitem__(slice(60, 64), struct.pack("<I", 0)),  # first attribute length 0
        lambda r: r.__setitem__(slice(60, 64), struct.pack("<I", 4000)),  # attribute past the record
        lambda r: r.__setitem__(slice(20, 22), struct.pack("<H", 1020)),  # attributes start at the end
    ],
)
def test_damaged_attributes_are_skipped_and_counted(damage) -> None:  # type: ignore[no-untyped-def]
    bad = in_root("bad.txt", size=4)
    damage(bad)
    got, stats = parse(volume({30: bad, 31: in_root("ok.txt")}))
    assert got == {"/ok.txt": (FileType.FILE, 0)}
    assert stats.corrupt == 1


def test_broken_parent_chains_become_counted_orphans() -> None:
    mft = volume({
        30: in_root("dir", is_dir=True, seq=4),
        31: record(1, [std_info(), file_name(ref(30, 3), "stale-parent.txt")]),  # dir 30 was reused
        32: record(1, [std_info(), file_name(ref(39, 1), "missing-parent.txt")]),
        33: record(1, [std_info(), file_name(ref(34, 1), "a")], is_dir=True),  # 33 <-> 34: a cycle
        34: record(1, [std_info(), file_name(ref(33, 1), "b")], is_dir=True),
        35: record(1, [std_info(), file_name(ref(34, 1), "in-cycle.txt")]),
        36: record(1, [std_info(), file_name(ref(37, 1), "parent-is-a-file.txt")]),
        37: in_root("file.txt"),
        38: record(1, [std_info(), file_name(ref(38, 1), "self")], is_dir=True),
    })
    got, stats = parse(mft)
    assert got == {"/dir": (FileType.DIR, 0), "/file.txt": (FileType.FILE, 0)}
    assert stats.orphans == 7


def test_extend_tree_and_metafiles_are_hidden() -> None:
    mft = volume({
        24: record(1, [std_info(), file_name(ref(11, 11), "$Quota")]),
        25: record(1, [std_info(), file_name(ref(11, 11), "$RmMetadata")], is_dir=True),
        26: record(1, [std_info(), file_name(ref(25, 1), "$Repair")]),
        27: in_root("$Recycle.Bin", is_dir=True),
    })
    got, stats = parse(mft)
    assert got == {"/$Recycle.Bin": (FileType.DIR, 0)}
    assert stats.hidden == 5 and stats.orphans == 0


def test_extension_records_add_names_and_size() -> None:
    base_attrs = [std_info(), resident(0x20, bytes(32)), file_name(ref(ROOT, ROOT), "many-names.bin")]
    ext_names = [file_name(ref(30, 1), f"alias-{i:02d}-" + "n" * 20) for i in range(5)]
    mft = volume({
        30: in_root("links", is_dir=True),
        31: record(2, base_attrs),
        32: record(1, [*ext_names, nonresident_data(70000)], base=ref(31, 2)),
        33: record(1, [nonresident_data(1, lowest_vcn=5)], base=ref(31, 2)),  # a later extent: not the size
        34: record(1, [file_name(ref(ROOT, ROOT), "ghost")], base=ref(31, 1)),  # base was reused: stale
    })
    got, stats = parse(mft)
    assert got["/many-names.bin"] == (FileType.FILE, 70_000)
    assert sorted(p for p in got if p.startswith("/links/")) == [
        f"/links/alias-{i:02d}-" + "n" * 20 for i in range(5)
    ]
    assert all(v == (FileType.FILE, 70_000) for p, v in got.items() if p.startswith("/links/"))
    assert "/ghost" not in got
    assert (stats.extension_records, stats.stale_extensions) == (3, 1)


def test_junction_is_a_link_never_a_directory() -> None:
    target = "C:\\Data"
    sub, pr = "\\??\\C:\\Data".encode("utf-16-le"), target.encode("utf-16-le")
    body = struct.pack("<HHHH", 0, len(sub), len(sub) + 2, len(pr)) + sub + b"\0\0" + pr + b"\0\0"
    reparse = resident(0xC0, struct.pack("<IHH", TAG_MOUNT_POINT, len(body), 0) + body)
    mft = volume({
        30: record(1, [std_info(), file_name(ref(ROOT, ROOT), "junction"), reparse], is_dir=True),
        31: record(1, [std_info(), file_name(ref(30, 1), "behind-the-link.txt")]),
    })
    parser = MftParser(RS)
    parser.feed(mft)
    entries = list(parser.entries())
    assert [(e.path, e.type, e.target) for e in entries] == [("/junction", FileType.SYMLINK, target)]
    assert parser.stats.orphans == 1  # the walk never descends into a link, so neither do we


def test_damaged_mft_or_root_record_is_corrupt_image() -> None:
    mft = volume({})
    mft[1022:1024] = b"\x00\x00"
    parser = MftParser(RS)
    parser.feed(mft)
    with pytest.raises(CorruptImage, match=r"record 0"):
        list(parser.entries("vol"))
    mft = volume({})
    mft[ROOT * RS : ROOT * RS + 4] = b"XXXX"
    parser = MftParser(RS)
    parser.feed(mft)
    with pytest.raises(CorruptImage, match="root directory"):
        list(parser.entries("vol"))


def test_read_mft_follows_runs_sparse_runs_and_split_records() -> None:
    # 512-byte clusters: record 2 is split between the first and the second run; a sparse run reads as zeros.
    mft = volume({30: in_root("far.txt")}, count=40)
    cluster = 512
    disk = bytearray(200 * 1024)
    runs: list[tuple[int | None, int]] = [(10, 5), (100, 15), (50, 5), (None, 4), (120, 51)]
    pos = 0
    for lcn, count in runs:
        piece = mft[pos : pos + count * cluster]
        if lcn is None:
            assert not any(piece)
        else:
            disk[lcn * cluster : lcn * cluster + len(piece)] = piece
        pos += count * cluster
    layout = MftLayout(RS, cluster, len(mft), tuple(runs))
    chunks = list(read_mft(io.BytesIO(bytes(disk)), layout, chunk=3 * RS))
    assert all(len(c) % RS == 0 for c in chunks) and len(chunks) > 5
    assert b"".join(chunks) == mft
    stats = MftScanStats()
    got = {e.path for e in scan_mft(io.BytesIO(bytes(disk)), layout, "vol", stats)}
    assert got == {"/far.txt"}
    assert stats.records == 40 and stats.entries == 1


def test_impossible_timestamps_become_none() -> None:
    rec = record(1, [std_info(mtime=0xFFFF_FFFF_FFFF_FFF0), file_name(ref(ROOT, ROOT), "future.txt")])
    parser = MftParser(RS)
    parser.feed(volume({30: rec}))
    (entry,) = list(parser.entries())
    assert entry.mtime is None or entry.mtime > datetime(2100, 1, 1, tzinfo=UTC)


def test_filetime_microseconds_match_the_datetime_conversion() -> None:
    import random

    from vmrestore.disks.ntfs_mft_format import _EPOCH, _filetime, filetime_us

    rng = random.Random(13)
    raws = [T2024, 0, 5, 116_444_736_000_000_000, 116_444_736_000_000_005, 0xFFFF_FFFF_FFFF_FFF0]
    raws += [rng.randrange(0, 1 << 63) for _ in range(2000)] + [T2024 + rng.randrange(0, 10**9) for _ in range(2000)]
    for raw in raws:
        dt = _filetime(raw)
        us = filetime_us(raw)
        assert (us is None) == (dt is None)
        if dt is not None:
            assert us is not None and _EPOCH + timedelta(microseconds=us) == dt == wintimestamp(raw)


def _listing(mft: bytearray, previous: bytes | None = None):  # type: ignore[no-untyped-def]
    from vmrestore.disks.ntfs_listing import MftScan

    layout = MftLayout(RS, 4096, len(mft), ((0, (len(mft) + 4095) // 4096),))
    stats = MftScanStats()
    listing = MftScan(io.BytesIO(bytes(mft) + bytes(-len(mft) % 4096)), layout, "vol", stats).listing(previous)
    paths = {(listing.folders[r[0]].rstrip("/") + "/" + r[1]): r[2:] for r in listing.rows}
    return listing, paths, stats


def test_changes_against_the_previous_pass_equal_a_whole_pass() -> None:
    before = volume({
        30: in_root("dir", is_dir=True),
        31: record(1, [std_info(), file_name(ref(30, 1), "kept.txt"), data(3)]),
        32: record(1, [std_info(), file_name(ref(30, 1), "freed.txt"), data(4)]),
        33: record(1, [std_info(), file_name(ref(39, 1), "orphan.txt")]),
        34: record(1, [std_info(), file_name(ref(11, 11), "$Hidden")]),
        64: in_root("far.txt", size=9),
    }, count=80)
    after = volume({
        30: in_root("renamed-dir", is_dir=True),  # the folder renamed: kept.txt's path changes, not its record
        31: record(1, [std_info(), file_name(ref(30, 1), "kept.txt"), data(3)]),
        32: record(2, [std_info(), file_name(ref(ROOT, ROOT), "reused.txt"), data(5)]),  # freed and reused
        33: record(1, [std_info(), file_name(ref(39, 1), "orphan.txt")]),
        34: record(1, [std_info(), file_name(ref(11, 11), "$Hidden")]),
    }, count=48)  # the $MFT shrank: far.txt's record is gone
    whole_before, paths_before, _ = _listing(before)
    whole_after, paths_after, stats_after = _listing(after)
    changes, changed_paths, stats = _listing(after, whole_before.state)
    assert not changes.complete and changes.entries == whole_after.entries == len(paths_after)
    assert set(changes.gone) == {"/dir", "/dir/kept.txt", "/dir/freed.txt", "/far.txt"}
    assert set(changed_paths) == {"/renamed-dir", "/renamed-dir/kept.txt", "/reused.txt"}
    kept = {p: v for p, v in paths_before.items() if p not in set(changes.gone)}
    assert {**kept, **changed_paths} == paths_after
    assert (stats.orphans, stats.hidden) == (stats_after.orphans, stats_after.hidden) == (1, 3)
    # A state it cannot read is not used: the whole volume is listed.
    assert _listing(after, b"not a state")[0].complete
