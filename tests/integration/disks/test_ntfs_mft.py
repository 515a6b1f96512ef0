"""The $MFT scan lists exactly what dissect's directory walk lists, on volumes made by mkntfs + ntfs-3g.

The disk bench's declarative specs cannot express hard links, deleted files, DOS aliases or reparse points,
so this module drives ntfs-3g itself (same tools, same FUSE rules as tests/bench/diskfactory.py): mkntfs
formats a partition image, the FUSE driver populates it through a script (``ln``, ``rm``, and ntfs-3g's
``system.ntfs_dos_name`` / ``system.ntfs_reparse_data`` extended attributes, which write real DOS names and
real junction/symlink reparse data), then sfdisk + dd + qemu-img make GPT and MBR disks and VMDKs.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.bench.disk_fixtures import REPO_LAYOUT
from tests.bench.diskfactory import DiskFactory, DiskSpec, fuse_available, to_vmdk
from tests.bench.tools import missing, require_tool
from vmrestore.disks.filesystems import NtfsFileSystem, open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.disks.ntfs_mft_format import TAG_MOUNT_POINT, TAG_SYMLINK
from vmrestore.errors import CorruptImage
from vmrestore.model import FileEntry, FileType

pytestmark = pytest.mark.disktools

MIB = 1024 * 1024
STAMP = datetime(2023, 7, 8, 9, 10, 11, 123456, tzinfo=UTC).timestamp()
LONG = "L" * 200 + "-long-name-" + "é" * 40 + ".txt"  # 255 UTF-16 units: the NTFS maximum
MANY = 120  # hard links to one file: their $FILE_NAME attributes overflow into extension records
DELETED = ["Users/alice/deleted.txt", "tmp/gone-dir/a.txt", "tmp/gone-dir/b.txt", "tmp/gone-dir"]


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.decode(errors='replace')}")


def _reparse(tag: int, substitute: str, printed: str) -> bytes:
    sub, pr = substitute.encode("utf-16-le"), printed.encode("utf-16-le")
    if tag == TAG_SYMLINK:
        body = struct.pack("<HHHHI", 0, len(sub), len(sub), len(pr), 0) + sub + pr
    else:
        body = struct.pack("<HHHH", 0, len(sub), len(sub) + 2, len(pr)) + sub + b"\0\0" + pr + b"\0\0"
    return struct.pack("<IHH", tag, len(body), 0) + body


def populate(root: Path) -> None:
    """Everything the walk and the scan must agree on, written through ntfs-3g."""
    def write(rel: str, data: bytes) -> Path:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    write("Users/alice/Documents/Q3-report.xlsx", b"numbers\n" * 400)  # non-resident
    write("Users/alice/Documents/deep/a/b/c/d/leaf.txt", b"deep")
    write("Users/bob/empty.txt", b"")
    (root / "Users/bob/Desktop").mkdir(parents=True)
    write("Users/bob/Zürich – notes.txt", "ünïcödé\n".encode())
    write("Users/bob/日本語のファイル.txt", b"jp")
    write("Users/bob/📁 emoji dir/😀.txt", b"surrogate pairs")  # UTF-16 surrogates in the name
    write(f"Users/bob/{LONG}", b"long")
    write("Program Files/App/big.bin", bytes(range(256)) * 1200)
    write("Program Files/App/ads.txt", b"main stream")
    # A named data stream (ntfs-3g maps user.* xattrs to alternate streams): must not change the size.
    os.setxattr(root / "Program Files/App/ads.txt", "user.Zone.Identifier", b"[ZoneTransfer]\r\n" * 300)
    # A hard link in another directory.
    os.link(root / "Users/alice/Documents/Q3-report.xlsx", root / "Users/bob/report-link.xlsx")
    # A file with many names: its $ATTRIBUTE_LIST points at extension records.
    shared = write("links/target.dat", b"x" * 5000)
    for i in range(MANY):
        os.link(shared, root / "links" / f"alias-{i:03d}-{'n' * 60}.dat")
    # A real DOS 8.3 alias beside the long name: the walk hides it, so must the scan.
    dos = write("Users/alice/A long document name.docx", b"PK")
    os.setxattr(dos, "system.ntfs_dos_name", b"ALONGD~1.DOC")
    # A junction and a symlink (reparse points): listed as links, never followed.
    (root / "Users/alice/My Music").mkdir()
    os.setxattr(root / "Users/alice/My Music", "system.ntfs_reparse_data",
                _reparse(TAG_MOUNT_POINT, "\\??\\C:\\Users\\alice\\Music", "C:\\Users\\alice\\Music"))
    (root / "Users/alice/link.txt").write_bytes(b"")
    os.setxattr(root / "Users/alice/link.txt", "system.ntfs_reparse_data",
                _reparse(TAG_SYMLINK, "\\??\\C:\\target.txt", "C:\\target.txt"))
    # Many files in one directory (a non-resident index) and deleted files.
    for i in range(300):
        write(f"many/file-{i:04d}.txt", str(i).encode() * (i % 7))
    for rel in DELETED[:3]:
        write(rel, b"soon gone")
    (root / "Users/alice/deleted.txt").unlink()
    shutil.rmtree(root / "tmp/gone-dir")
    # Fixed mtimes with sub-second digits (the two readers must agree to the microsecond).
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            path = Path(dirpath, name)
            if name in ("My Music", "link.txt"):
                continue  # ntfs-3g cannot resolve a reparse point without its plugin
            os.utime(path, (STAMP, STAMP + (hash(name) % 1000) / 997))


def build_ntfs_partition(img: Path, size_mb: int, start_sector: int, cluster: int,
                         script: Callable[[Path], None]) -> None:
    require_tool("mkntfs", "ntfs-3g")
    ntfs3g = require_tool("ntfs-3g", "ntfs-3g")
    if not fuse_available():
        message = "ntfs-3g FUSE is needed to populate NTFS volumes and /dev/fuse is not usable here"
        missing(message)
    with open(img, "wb") as fh:
        fh.truncate(size_mb * MIB)
    _run(["mkntfs", "-F", "-q", "-f", "-c", str(cluster), "-L", "MFTTEST", "-p", str(start_sector),
          "-H", "255", "-S", "63", str(img)])
    mnt = img.with_suffix(".mnt")
    mnt.mkdir()
    proc = subprocess.Popen([ntfs3g, "-o", "no_detach", str(img), str(mnt)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not os.path.ismount(mnt):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ntfs-3g did not mount {img}")
            time.sleep(0.02)
        script(mnt)
    finally:
        if os.path.ismount(mnt):
            _run(["fusermount", "-u", str(mnt)])
        proc.wait(timeout=30)
        mnt.rmdir()


def build_disk(work: Path, table: str, cluster: int, script: Callable[[Path], None]) -> Path:
    """A raw disk with one NTFS partition (``table`` gpt or mbr) at 1 MiB."""
    require_tool("sfdisk", "fdisk")
    size_mb = 24
    part = work / f"part-{table}.img"
    build_ntfs_partition(part, size_mb, 2048, cluster, script)
    raw = work / f"disk-{table}.raw"
    with open(raw, "wb") as fh:
        fh.truncate((size_mb + 2) * MIB)
    kind = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" if table == "gpt" else "7"
    label = "gpt" if table == "gpt" else "dos"
    layout = f"label: {label}\nunit: sectors\n\nstart=2048, size={size_mb * 2048}, type={kind}\n"
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(raw)],
                   input=layout.encode(), capture_output=True, check=True)
    _run(["dd", f"if={part}", f"of={raw}", "bs=1M", "seek=1", "conv=notrunc,sparse"])
    part.unlink()
    return raw


@pytest.fixture(scope="module")
def raw_disks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """GPT with 4 KiB clusters; MBR with 512-byte clusters (a 1 KiB record spans two clusters)."""
    work = tmp_path_factory.mktemp("ntfs-mft")
    return {"gpt": build_disk(work, "gpt", 4096, populate), "mbr": build_disk(work, "mbr", 512, populate)}


def _ntfs(fs: object) -> NtfsFileSystem:
    assert isinstance(fs, NtfsFileSystem)
    return fs


def walk_and_scan(disk: Path) -> tuple[set[FileEntry], set[FileEntry], NtfsFileSystem]:
    if disk.suffix == ".vmdk":
        with open_vmdk(disk) as img:
            fs = _ntfs(open_filesystem(img, 1, str(disk)))
            return set(fs.walk("/")), set(fs.scan("/")), fs
    with open(disk, "rb") as fh:
        fs = _ntfs(open_filesystem(fh, 1, str(disk)))
        return set(fs.walk("/")), set(fs.scan("/")), fs


@pytest.mark.parametrize(
    ("table", "subformat"),
    [("gpt", "monolithicSparse"), ("gpt", "streamOptimized"), ("mbr", "monolithicFlat"),
     ("mbr", "twoGbMaxExtentSparse")],
)
def test_scan_equals_walk(raw_disks: dict[str, Path], tmp_path: Path, table: str, subformat: str) -> None:
    vmdk = to_vmdk(raw_disks[table], subformat, tmp_path / "vm.vmdk")
    walked, scanned, fs = walk_and_scan(vmdk)
    assert scanned == walked
    by_path = {e.path: e for e in scanned}
    assert len(by_path) == len(scanned)
    stats = fs.scan_stats
    assert stats is not None and stats.corrupt == 0 and stats.orphans == 0
    assert stats.entries == len(scanned)
    # What the comparison covered, read back from the scan: not a pair of empty sets.
    assert by_path["/Users/bob/report-link.xlsx"].size == 3200 == by_path["/Users/alice/Documents/Q3-report.xlsx"].size
    assert by_path["/Program Files/App/ads.txt"].size == len(b"main stream")
    assert by_path["/Users/bob/📁 emoji dir/😀.txt"].type is FileType.FILE
    assert by_path[f"/Users/bob/{LONG}"].size == 4
    assert by_path["/Users/alice/Documents/deep/a/b/c/d/leaf.txt"].mtime is not None
    assert (by_path["/Users/alice/My Music"].type, by_path["/Users/alice/My Music"].target) == (
        FileType.SYMLINK, "C:\\Users\\alice\\Music")
    assert (by_path["/Users/alice/link.txt"].type, by_path["/Users/alice/link.txt"].target) == (
        FileType.SYMLINK, "C:\\target.txt")
    assert "/Users/alice/A long document name.docx" in by_path
    assert not any(e.name.upper() == "ALONGD~1.DOC" for e in scanned)
    links = [e for e in scanned if e.path.startswith("/links/")]
    assert len(links) == MANY + 1 and all(e.size == 5000 for e in links)
    assert stats.extension_records > 0, "the many-names file should have needed extension records"
    assert len([e for e in scanned if e.path.startswith("/many/")]) == 300
    for rel in DELETED:
        assert "/" + rel not in by_path
    assert not any(e.name.startswith("$") or e.path.startswith("/$Extend") for e in scanned)


def test_raw_gpt_and_mbr_disks(raw_disks: dict[str, Path]) -> None:
    for raw in raw_disks.values():
        walked, scanned, _fs = walk_and_scan(raw)
        assert scanned == walked and len(scanned) == 450


def test_scan_equals_walk_on_the_bench_repository_disks(disk_factory: DiskFactory, tmp_path: Path) -> None:
    """The disks other tests use (web01's SYSTEM volume): same answer from both readers."""
    spec: DiskSpec = REPO_LAYOUT["web01"][2].disks[0]
    vmdk = disk_factory.vmdk(spec, "monolithicSparse", tmp_path)
    walked, scanned, _fs = walk_and_scan(vmdk)
    assert scanned == walked and {e.path for e in scanned} >= {"/Users/alice/Documents/Q3-report.xlsx"}


# ------------------------------------------------------------------------------------------------ damage


def _record_offset(raw: Path, path: str) -> tuple[int, int]:
    """(offset in the raw disk of the FILE record of ``path``, record size), located through dissect."""
    with open(raw, "rb") as fh:
        fs = _ntfs(open_filesystem(fh, 1, str(raw)))
        number = int(fs.fs.mft.get(path).segment)
        record_size = int(fs.fs._record_size)
        cluster = int(fs.fs.cluster_size)
        position = number * record_size
        for lcn, count in fs.fs.mft.fh.runlist:
            if position < count * cluster:
                return fs.volume.offset + lcn * cluster + position, record_size
            position -= count * cluster
    raise AssertionError(f"record of {path} not mapped")


def _damaged_copy(raw: Path, tmp_path: Path, path: str, where: int, garbage: bytes) -> Path:
    copy = tmp_path / "damaged.raw"
    subprocess.run(["cp", "--sparse=always", str(raw), str(copy)], check=True)
    offset, _size = _record_offset(raw, path)
    with open(copy, "r+b") as fh:
        fh.seek(offset + where)
        fh.write(garbage)
    return copy


def _scan(raw: Path) -> tuple[set[FileEntry], NtfsFileSystem]:
    with open(raw, "rb") as fh:
        fs = _ntfs(open_filesystem(fh, 1, str(raw)))
        return set(fs.scan("/")), fs


def test_damaged_file_record_is_skipped_and_counted(raw_disks: dict[str, Path], tmp_path: Path) -> None:
    raw = raw_disks["gpt"]
    intact, _ = _scan(raw)
    # Flip the end of the record's first 512-byte block: the update sequence no longer matches (torn write).
    damaged = _damaged_copy(raw, tmp_path, "Users/alice/Documents/Q3-report.xlsx", 510, b"\xde\xad")
    got, fs = _scan(damaged)
    lost = {"/Users/alice/Documents/Q3-report.xlsx", "/Users/bob/report-link.xlsx"}  # both names of the record
    assert {e.path for e in intact - got} == lost
    assert got == {e for e in intact if e.path not in lost}
    assert fs.scan_stats is not None and fs.scan_stats.corrupt == 1 and fs.scan_stats.orphans == 0
    # ...and the index report says so in words (catalog_index adds these to its errors).
    warnings = fs.scan_warnings()
    assert len(warnings) == 1 and warnings[0].startswith("1 damaged MFT record(s) skipped (record ")


def test_damaged_directory_record_orphans_its_children(raw_disks: dict[str, Path], tmp_path: Path) -> None:
    raw = raw_disks["mbr"]
    intact, _ = _scan(raw)
    damaged = _damaged_copy(raw, tmp_path, "many", 0, b"XXXX")  # signature gone
    got, fs = _scan(damaged)
    assert {e.path for e in intact - got} == {"/many"} | {f"/many/file-{i:04d}.txt" for i in range(300)}
    assert got <= intact
    assert fs.scan_stats is not None and (fs.scan_stats.corrupt, fs.scan_stats.orphans) == (1, 300)


def test_damaged_mft_record_is_corrupt_image(raw_disks: dict[str, Path], tmp_path: Path) -> None:
    damaged = _damaged_copy(raw_disks["gpt"], tmp_path, "$MFT", 1022, b"\x00\x00")
    with pytest.raises(CorruptImage), open(damaged, "rb") as fh:
        list(open_filesystem(fh, 1, str(damaged)).scan("/"))
