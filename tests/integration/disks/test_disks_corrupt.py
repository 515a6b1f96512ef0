"""Damaged images fail with CorruptImage naming the file; other images and volumes stay usable."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec, to_vmdk
from vmrestore.disks.filesystems import open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.disks.volumes import list_volumes
from vmrestore.errors import CorruptImage, NotFound
from vmrestore.model import FileType

pytestmark = pytest.mark.disktools

FILES = {f"data/file{i:02d}.bin": hashlib.sha256(str(i).encode()).digest() * 4096 for i in range(16)}
SPEC = DiskSpec(
    "gpt", [PartitionSpec("ext4", 8, "DATA", FILES), PartitionSpec("fat32", 0, "SPARE", {"spare.txt": "ok"})]
)


def _read_everything(vmdk: Path) -> dict[str, bytes]:
    """Every file of every volume: ``{"vol1/data/file00.bin": bytes}``."""
    found: dict[str, bytes] = {}
    with open_vmdk(vmdk) as img:
        for volume in list_volumes(img, str(vmdk)):
            if not volume.readable:
                raise CorruptImage(f"{vmdk}: {volume.reason}")
            fs = open_filesystem(img, volume.index, str(vmdk))
            for entry in fs.walk("/"):
                if entry.type is FileType.FILE:
                    found[f"vol{volume.index}{entry.path}"] = fs.open(entry.path).read()
    return found


def test_intact_image_reads(disk_factory: DiskFactory, tmp_path: Path) -> None:
    found = _read_everything(disk_factory.vmdk(SPEC, "monolithicSparse", tmp_path))
    want = {f"vol1/{path}": data for path, data in FILES.items()} | {"vol2/spare.txt": b"ok"}
    assert {k: v for k, v in found.items() if "lost+found" not in k} == want


def test_truncated_sparse_vmdk(disk_factory: DiskFactory, tmp_path: Path) -> None:
    vmdk = disk_factory.vmdk(SPEC, "monolithicSparse", tmp_path)
    os.truncate(vmdk, vmdk.stat().st_size // 2)
    with pytest.raises(CorruptImage, match=str(vmdk)) as info:
        _read_everything(vmdk)
    assert "truncated" in str(info.value) or "beyond the end" in str(info.value)


def test_truncated_stream_optimized_vmdk(disk_factory: DiskFactory, tmp_path: Path) -> None:
    vmdk = disk_factory.vmdk(SPEC, "streamOptimized", tmp_path)
    # qemu writes the directory and tables up front, then the compressed grains, then zero padding:
    # cut deep enough to lose grains (cutting only the padding leaves a complete, readable disk).
    os.truncate(vmdk, vmdk.stat().st_size // 3)
    with pytest.raises(CorruptImage, match=str(vmdk)):
        _read_everything(vmdk)


def test_garbage_grain_directory(disk_factory: DiskFactory, tmp_path: Path) -> None:
    vmdk = disk_factory.vmdk(SPEC, "monolithicSparse", tmp_path)
    with open(vmdk, "r+b") as fh:
        header = fh.read(512)
        assert header[:4] == b"KDMV"
        gd_sector = struct.unpack_from("<Q", header, 56)[0]  # gdOffset, in sectors
        fh.seek(gd_sector * 512)
        fh.write(bytes((i * 37 + 11) % 256 for i in range(512)))
    with pytest.raises(CorruptImage, match="grain directory") as info:
        open_vmdk(vmdk)
    assert str(vmdk) in str(info.value)
    # the other copy of the same disk is untouched and still reads
    _read_everything(disk_factory.vmdk(SPEC, "monolithicSparse", tmp_path / "other"))


def test_missing_extent_file(disk_factory: DiskFactory, tmp_path: Path) -> None:
    vmdk = disk_factory.vmdk(SPEC, "monolithicFlat", tmp_path, "vm.vmdk")
    (tmp_path / "vm-flat.vmdk").unlink()
    with pytest.raises(CorruptImage, match=r"vm-flat\.vmdk is missing"):
        open_vmdk(vmdk)


def test_extent_outside_the_folder_is_refused(disk_factory: DiskFactory, tmp_path: Path) -> None:
    vmdk = disk_factory.vmdk(SPEC, "monolithicFlat", tmp_path / "point", "vm.vmdk")
    vmdk.write_text(vmdk.read_text().replace('"vm-flat.vmdk"', '"../../etc/passwd"'))
    with pytest.raises(CorruptImage, match="not a plain file name"):
        open_vmdk(vmdk)


def test_not_a_vmdk(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.vmdk"
    bogus.write_bytes(b"hello")
    with pytest.raises(CorruptImage, match="not a VMDK"):
        open_vmdk(bogus)
    with pytest.raises(NotFound):
        open_vmdk(tmp_path / "absent.vmdk")


def test_damaged_superblock_only_hits_that_volume(disk_factory: DiskFactory, tmp_path: Path) -> None:
    raw = disk_factory.raw(SPEC, tmp_path)
    with open(raw, "r+b") as fh:
        fh.seek(1024 * 1024 + 1024)  # ext4 superblock of partition 1; keep the magic at +56
        fh.write(b"\x00" * 56)
    vmdk = to_vmdk(raw, "monolithicSparse", tmp_path / "damaged.vmdk")
    with open_vmdk(vmdk) as img:
        ext, fat = list_volumes(img, str(vmdk))
        assert (ext.fs, ext.readable) == ("ext4", False)
        assert ext.reason is not None and "damaged ext4" in ext.reason
        assert (fat.fs, fat.readable) == ("fat32", True)
        with pytest.raises(CorruptImage, match="volume 1"):
            open_filesystem(img, 1, str(vmdk))
        assert open_filesystem(img, 2).open("/spare.txt").read() == b"ok"


def test_damaged_ntfs_boot_sector(disk_factory: DiskFactory, tmp_path: Path) -> None:
    spec = DiskSpec("mbr", [PartitionSpec("ntfs", 8, "C", {"a.txt": "a"})])
    raw = disk_factory.raw(spec, tmp_path)
    with open(raw, "r+b") as fh:
        fh.seek(1024 * 1024 + 0x30)  # MftStartLcn: point the MFT far beyond the volume
        fh.write(struct.pack("<Q", 0x7FFFFFFF))
    vmdk = to_vmdk(raw, "streamOptimized", tmp_path / "damaged.vmdk")
    with open_vmdk(vmdk) as img:
        [vol] = list_volumes(img, str(vmdk))
        assert (vol.fs, vol.readable) == ("ntfs", False)
        with pytest.raises(CorruptImage, match=r"damaged\.vmdk, volume 1"):
            open_filesystem(img, 1, str(vmdk))


def test_gpt_entry_count_flipped_is_refused_at_once(disk_factory: DiskFactory, tmp_path: Path) -> None:
    """Found by the damage fuzz: a flipped NumberOfPartitionEntries made dissect parse 11 million entries
    (tens of seconds) before anything was shown."""
    import time

    raw = disk_factory.raw(SPEC, tmp_path)
    with open(raw, "r+b") as fh:
        fh.seek(512 + 80)  # GPT header (LBA 1): NumberOfPartitionEntries
        fh.write(struct.pack("<I", 11_468_928))
    vmdk = to_vmdk(raw, "monolithicSparse", tmp_path / "damaged.vmdk")
    started = time.monotonic()
    with open_vmdk(vmdk) as img, pytest.raises(CorruptImage, match=r"damaged\.vmdk: the GPT partition table"):
        list_volumes(img, str(vmdk))
    assert time.monotonic() - started < 2


def test_embedded_descriptor_offset_past_the_end(disk_factory: DiskFactory, tmp_path: Path) -> None:
    """Found by the damage fuzz: a huge descriptorOffset made discovery raise ValueError from seek()."""
    from vmrestore.catalog.descriptor import read_descriptor

    vmdk = disk_factory.vmdk(SPEC, "monolithicSparse", tmp_path)
    with open(vmdk, "r+b") as fh:
        fh.seek(28)  # descriptorOffset, in sectors
        fh.write(struct.pack("<Q", 1 << 62))
    with pytest.raises(CorruptImage, match="past the end of the file"):
        read_descriptor(vmdk)
    with pytest.raises(CorruptImage, match="header is damaged"):
        open_vmdk(vmdk)


def test_directory_loop_is_restored_once_never_endlessly(disk_factory: DiskFactory, tmp_path: Path) -> None:
    """A damaged ext4 directory that links back to its grandparent (made with debugfs, the e2fsprogs tool)
    is copied once and reported; without the guard the copy recursed until Python gave up."""
    import subprocess

    from vmrestore.disks.extract import extract

    spec = DiskSpec("none", [PartitionSpec("ext4", 4, "loop", {"a/b/file.txt": "inside"})])
    raw = disk_factory.raw(spec, tmp_path)
    subprocess.run(["debugfs", "-w", "-R", "link /a /a/b/up", str(raw)], check=True, capture_output=True)
    vmdk = to_vmdk(raw, "monolithicSparse", tmp_path / "loop.vmdk")
    with open_vmdk(vmdk) as img:
        fs = open_filesystem(img, 1, str(vmdk))
        assert [e.name for e in fs.listdir("/a/b")] == ["file.txt", "up"]  # the loop is really there
        result = extract(fs, ["/"], tmp_path / "out")
    assert (tmp_path / "out" / "a" / "b" / "file.txt").read_text() == "inside"
    assert not (tmp_path / "out" / "a" / "b" / "up").exists()
    assert [(s.path, "directory loop" in s.reason) for s in result.skipped] == [("/a/b/up", True)]
