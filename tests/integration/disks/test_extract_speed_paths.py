"""The direct run reader (extract.direct_plan + VmdkImage.read_at) returns exactly dissect's bytes.

Fragmented files are made by real tools: interleaved appends on an ntfs-3g FUSE mount, and debugfs
writing into the gaps left by deleted files on ext4. Each test first proves the file *is* fragmented
(its run list has several runs), so it cannot pass by accident on a contiguous file.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec, fuse_available, to_vmdk
from tests.bench.tools import missing, require_tool
from vmrestore.disks import extents
from vmrestore.disks import extract as extract_module
from vmrestore.disks.extract import direct_plan, extract
from vmrestore.disks.filesystems import GuestFileSystem, open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.errors import CorruptImage

pytestmark = pytest.mark.disktools

MIB = 1024 * 1024
SUBFORMATS = ("monolithicSparse", "streamOptimized", "twoGbMaxExtentSparse", "monolithicFlat")


def _blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _run(args: list[str], **kwargs: object) -> None:
    proc = subprocess.run(args, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{args[0]} failed: {proc.stderr.decode(errors='replace')}"


def _in_gpt(volume: Path, disk: Path) -> None:
    """Put a volume image into a GPT disk at 1 MiB (so the direct path must add the partition offset)."""
    size = volume.stat().st_size
    with open(disk, "wb") as fh:
        fh.truncate(size + 2 * MIB)
    table = f"label: gpt\nunit: sectors\n\nstart=2048, size={size // 512}, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n"
    _run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(disk)], input=table.encode())
    _run(["dd", f"if={volume}", f"of={disk}", "bs=1M", "seek=1", "conv=notrunc,sparse"])


# Interleaved pieces: three files grow side by side, so the allocator hands out alternating clusters.
PIECES = {name: [_blob(i * 100 + n, 24 * 1024 + 513 * n) for n in range(24)] for i, name in enumerate("abc")}
EXPECTED = {f"/{name}.bin": b"".join(parts) for name, parts in PIECES.items()}
SPARSE = b"head" + bytes(3 * MIB) + b"tail" + bytes(70_000) + b"end"


def _fragmented_ntfs(disk_factory: DiskFactory, work: Path) -> Path:
    require_tool("ntfs-3g", "ntfs-3g")
    if not fuse_available():
        missing("ntfs-3g needs a usable /dev/fuse")
    volume = disk_factory.raw(DiskSpec("none", [PartitionSpec("ntfs", 24, "FRAG", {"seed.txt": "x"})]), work)
    mnt = work / "mnt"
    mnt.mkdir()
    proc = subprocess.Popen(["ntfs-3g", "-o", "no_detach", str(volume), str(mnt)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not os.path.ismount(mnt):
            assert proc.poll() is None and time.monotonic() < deadline, "ntfs-3g did not mount"
            time.sleep(0.02)
        handles = {name: open(mnt / f"{name}.bin", "wb") for name in PIECES}  # noqa: SIM115
        for n in range(24):
            for name, fh in handles.items():
                fh.write(PIECES[name][n])
                fh.flush()
                os.fsync(fh.fileno())
        for fh in handles.values():
            fh.close()
        with open(mnt / "sparse.bin", "wb") as fh:  # a real hole: ntfs-3g makes sparse runs
            fh.write(b"head")
            fh.seek(3 * MIB + 4)
            fh.write(b"tail")
            fh.seek(70_000, os.SEEK_CUR)
            fh.write(b"end")
    finally:
        if os.path.ismount(mnt):
            _run(["fusermount", "-u", str(mnt)])
        proc.wait(timeout=30)
    disk = work / "ntfs-disk.raw"
    _in_gpt(volume, disk)
    return disk


def _fragmented_ext4(work: Path) -> Path:
    require_tool("mke2fs", "e2fsprogs")
    require_tool("debugfs", "e2fsprogs")
    src = work / "src"
    src.mkdir()
    for i in range(360):
        (src / f"filler{i:03d}").write_bytes(_blob(i, 20 * 1024))
    (src / "sparse.bin").write_bytes(SPARSE)
    volume = work / "ext4.img"
    with open(volume, "wb") as fh:
        fh.truncate(16 * MIB)
    _run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-d", str(src), str(volume)])
    # Free every other filler, then let debugfs (the ext2fs allocator) write files into the gaps.
    commands = [f"rm filler{i:03d}" for i in range(0, 360, 2)]
    for name in EXPECTED:
        whole = work / name.lstrip("/")
        whole.write_bytes(EXPECTED[name])
        commands.append(f"write {whole} {name.lstrip('/')}")
    _run(["debugfs", "-w", "-f", "-", str(volume)], input="\n".join(commands).encode())
    disk = work / "ext4-disk.raw"
    _in_gpt(volume, disk)
    return disk


@pytest.fixture(scope="module", params=["ntfs", "ext4"])
def fragmented_disk(
    request: pytest.FixtureRequest, disk_factory: DiskFactory, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    work = tmp_path_factory.mktemp(f"frag-{request.param}")
    if request.param == "ntfs":
        return _fragmented_ntfs(disk_factory, work)
    return _fragmented_ext4(work)


def _slow_bytes(fs: GuestFileSystem, path: str) -> bytes:
    return fs.open(path).read()


def _fast_bytes(fs: GuestFileSystem, path: str) -> bytes:
    plan = direct_plan(fs.open(path))
    assert plan is not None, "the direct path must apply to plain NTFS/ext4 files in a VMDK"
    read_at, segments = plan
    out = bytearray()
    for at, length in segments:
        if at is None:
            out += bytes(length)
        else:
            piece = bytearray(length)
            read_at(at, memoryview(piece))
            out += piece
    return bytes(out)


@pytest.mark.parametrize("subformat", SUBFORMATS)
def test_fast_path_matches_slow_path_on_fragmented_files(fragmented_disk: Path, subformat: str, tmp_path: Path) -> None:
    vmdk = to_vmdk(fragmented_disk, subformat, tmp_path / "frag.vmdk")
    with open_vmdk(vmdk) as image:
        fs = open_filesystem(image, 1, str(vmdk))
        for path, expected in EXPECTED.items():
            plan = direct_plan(fs.open(path))
            assert plan is not None
            assert len([s for s in plan[1] if s[0] is not None]) > 3, f"{path} is not fragmented: {plan[1]}"
            assert _slow_bytes(fs, path) == expected
            assert _fast_bytes(fs, path) == expected
        sparse = _slow_bytes(fs, "/sparse.bin")
        assert sparse == SPARSE
        assert _fast_bytes(fs, "/sparse.bin") == sparse

        # And through the product path, with the direct reader on and off.
        fast = extract(fs, ["/"], tmp_path / "fast", "overwrite")
        extract_module.direct_plan = lambda src: None  # type: ignore[assignment]
        try:
            slow = extract(fs, ["/"], tmp_path / "slow", "overwrite")
        finally:
            extract_module.direct_plan = direct_plan
    assert fast.skipped == slow.skipped == ()
    for path in [*EXPECTED, "/sparse.bin"]:
        got_fast = (tmp_path / "fast" / path.lstrip("/")).read_bytes()
        got_slow = (tmp_path / "slow" / path.lstrip("/")).read_bytes()
        assert hashlib.sha256(got_fast).digest() == hashlib.sha256(got_slow).digest()
        assert got_fast == (EXPECTED.get(path) or SPARSE)


@pytest.mark.parametrize("subformat", SUBFORMATS)
def test_read_at_matches_the_dissect_stream(disk_factory: DiskFactory, subformat: str, tmp_path: Path) -> None:
    files = {f"f{i}.bin": _blob(i, 300_000 + i * 4099) for i in range(8)}
    spec = DiskSpec("mbr", [PartitionSpec("ext4", 6, "A", files), PartitionSpec("fat32", 0, "B", {"x": "y"})])
    vmdk = disk_factory.vmdk(spec, subformat, tmp_path)
    rng = random.Random(7)
    with open_vmdk(vmdk) as image:
        image.seek(0)
        whole = image.read(image.size)
        buf = bytearray(image.size)
        image.read_at(0, memoryview(buf))
        assert buf == whole
        for _ in range(300):
            at = rng.randrange(image.size)
            length = min(image.size - at, rng.choice([1, 511, 4096, 65536, 65537, 200_000, MIB + 3]))
            piece = bytearray(length)
            image.read_at(at, memoryview(piece))
            assert piece == whole[at : at + length], (at, length)
        with pytest.raises(CorruptImage):
            image.read_at(image.size - 10, memoryview(bytearray(11)))


@pytest.mark.parametrize("damage", ["deflate", "lba"])
def test_damaged_compressed_grain_is_corrupt_on_the_fast_path(
    disk_factory: DiskFactory, damage: str, tmp_path: Path
) -> None:
    payload = _blob(3, 3 * MIB)
    spec = DiskSpec("gpt", [PartitionSpec("ext4", 8, "D", {"big.bin": payload})])
    vmdk = disk_factory.vmdk(spec, "streamOptimized", tmp_path)
    with open_vmdk(vmdk) as image:
        fs = open_filesystem(image, 1, str(vmdk))
        plan = direct_plan(fs.open("/big.bin"))
        assert plan is not None
        first_disk_offset = plan[1][0][0]
        assert first_disk_offset is not None
    grain_index = first_disk_offset // 65536 + 2  # a grain inside the file, a little way in
    with open_vmdk(vmdk) as image:  # where that grain lives in the extent file (dissect's own table)
        ext = image._vmdk.disks[0]
        table = ext._lookup_grain_table(grain_index // int(ext._grain_table_size))
        offset = int(table[grain_index % int(ext._grain_table_size)]) * 512
    with open(vmdk, "r+b") as fh:
        if damage == "deflate":
            fh.seek(offset + 12 + 200)
            fh.write(b"\xff" * 64)
        else:
            fh.seek(offset)
            fh.write(struct.pack("<Q", 12345678))
    with open_vmdk(vmdk) as image:
        fs = open_filesystem(image, 1, str(vmdk))
        result = extract(fs, ["/big.bin"], tmp_path / "out")
    assert result.files == 0
    assert [s.path for s in result.skipped] == ["/big.bin"]
    assert "grain" in result.skipped[0].reason
    assert not list((tmp_path / "out").iterdir())  # the partial file is gone


def test_threaded_inflate_places_grains_in_order_whatever_finishes_first(
    disk_factory: DiskFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grains inflated on the pool land in grain order even when later grains finish first.

    Each inflate sleeps less than the one submitted before it, so with several workers the completion
    order is scrambled; the test first proves it was (a later grain finished before an earlier one),
    then compares every byte with the raw disk image the VMDK was converted from.
    """
    payload = _blob(11, 3 * MIB + 12345)
    spec = DiskSpec("gpt", [PartitionSpec("ext4", 8, "T", {"big.bin": payload})])
    vmdk = disk_factory.vmdk(spec, "streamOptimized", tmp_path / "vmdk")
    raw = disk_factory.raw(spec, tmp_path / "raw").read_bytes()
    pool_size = 4
    monkeypatch.setattr(extents, "INFLATE_WORKERS", pool_size)
    monkeypatch.setattr(extents, "POOL_BELOW_RATIO", 2.0)  # random data does not compress: pool it anyway
    monkeypatch.setattr(extents, "_pool", None)
    submitted = itertools.count()
    finished: list[int] = []
    lock = threading.Lock()
    real = extents._inflate

    def scrambled(data: memoryview, grain_bytes: int) -> bytes:
        seq = next(submitted)
        time.sleep((pool_size - seq % pool_size) * 0.002)  # the first of each group of 4 ends last
        plain = real(data, grain_bytes)
        with lock:
            finished.append(seq)
        return plain

    monkeypatch.setattr(extents, "_inflate", scrambled)
    try:
        with open_vmdk(vmdk) as image:
            whole = bytearray(image.size)
            image.read_at(0, memoryview(whole))
            assert len(finished) > 40, "the disk has many compressed grains, inflated on the pool"
            assert any(a > b for a, b in itertools.pairwise(finished)), "completions were never out of order"
            assert whole == raw
            fs = open_filesystem(image, 1, str(vmdk))
            result = extract(fs, ["/big.bin"], tmp_path / "out", "overwrite")
        assert result.files == 1 and result.skipped == ()
        assert (tmp_path / "out" / "big.bin").read_bytes() == payload
    finally:
        pool = extents._pool
        if pool is not None:
            pool.shutdown(wait=True)
