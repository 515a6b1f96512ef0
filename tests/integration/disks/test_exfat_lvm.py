"""exFAT volumes and LVM2 logical volumes, made by their own tools, read back exactly; LUKS listed with a reason.

exFAT images are written by exfat-fuse running in a +05:30 zone, so the UTC offset in every timestamp is
exercised. The LVM2 disk holds a GPT partition that is a PV of volume group ``vgdata`` with two LVs of
ext4; ``home`` was extended after ``root`` existed, so it has two segments in different places of the PV.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec, expected_tree, mtime_of
from tests.bench.fs_extra import LogicalVolumeSpec
from vmrestore.disks.filesystems import GuestFileSystem, open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.disks.volumes import list_volumes
from vmrestore.errors import CorruptImage, NotFound
from vmrestore.model import FileType

pytestmark = pytest.mark.disktools

BIG = bytes((i * 7919) % 251 for i in range(2 * 1024 * 1024 + 333))  # many clusters, not cluster-aligned

EXFAT_FILES: dict[str, bytes | str | None] = {
    "Users/alice/Documents/Q3-report.xlsx": "quarterly numbers\n" * 300,
    "Users/alice/Desktop": None,
    "Users/bob/empty.txt": b"",
    "Users/bob/Zürich – notes 📁.txt": "ünïcödé and an astral-plane emoji survive\n",
    "Program Files/App/big.bin": BIG,
    "deep/a/b/c/d/e/leaf.txt": "deep",
    "L" * 200 + ".txt": "a 204-character name spans 14 name entries",
    "README.md": "exfat volume\n",
    **{f"many/file-with-a-longish-name-{i:04d}.txt": f"{i}\n" for i in range(150)},  # a multi-cluster directory
}
EXFAT_MTIMES = {
    "README.md": datetime(2019, 12, 31, 23, 59, 58, tzinfo=UTC),
    "Users/bob/empty.txt": datetime(2001, 2, 3, 4, 5, 7, tzinfo=UTC),  # odd second: exFAT's 10 ms field
    "Users/alice": datetime(2010, 6, 30, 18, 45, 0, tzinfo=UTC),
}
EXFAT = PartitionSpec("exfat", 12, "EXVOL", EXFAT_FILES, EXFAT_MTIMES)


def _assert_tree(fs: GuestFileSystem, part: PartitionSpec, ignore: tuple[str, ...] = ()) -> None:
    seen = {e.path: e for e in fs.walk("/") if e.path not in ignore}
    expected = expected_tree(part)
    assert sorted(seen) == sorted(expected)
    for path, value in expected.items():
        entry = seen[path]
        assert entry.mtime == mtime_of(part, path), (path, entry.mtime)
        if value is None:
            assert entry.type is FileType.DIR, path
            continue
        assert isinstance(value, bytes)
        assert (entry.type, entry.size) == (FileType.FILE, len(value)), path
        with fs.open(path) as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == hashlib.sha256(value).hexdigest(), path


@pytest.mark.parametrize(
    ("table", "subformat"),
    [("gpt", "monolithicSparse"), ("mbr", "streamOptimized"), ("gpt", "twoGbMaxExtentSparse")],
)
def test_exfat_tree_bytes_and_times(disk_factory: DiskFactory, tmp_path: Path, table: str, subformat: str) -> None:
    spec = DiskSpec(table, [PartitionSpec("ext4", 4, "OTHER", {"x": "x"}), EXFAT])  # type: ignore[arg-type]
    vmdk = disk_factory.vmdk(spec, subformat, tmp_path, "vm.vmdk")
    with open_vmdk(vmdk) as img:
        volumes = list_volumes(img, str(vmdk))
        assert [(v.index, v.fs, v.label, v.readable) for v in volumes] == [
            (1, "ext4", "OTHER", True),
            (2, "exfat", "EXVOL", True),
        ]
        assert (volumes[1].offset, volumes[1].size) == (5 * 1024 * 1024, 12 * 1024 * 1024)
        fs = open_filesystem(img, 2, str(vmdk))
        _assert_tree(fs, EXFAT)
        # case-insensitive lookup, case-preserving names, listdir agrees with walk
        found = fs.stat("/users/BOB/zürich – NOTES 📁.txt")
        assert (found.type, found.size) == (FileType.FILE, len("ünïcödé and an astral-plane emoji survive\n".encode()))
        assert "Zürich – notes 📁.txt" in [e.name for e in fs.listdir("/USERS/bob")]
        assert [e.name for e in fs.listdir("/Users")] == ["alice", "bob"]
        assert len(fs.listdir("/many")) == 150
        with pytest.raises(NotFound):
            fs.stat("/Users/carol")


def test_exfat_unpartitioned_and_empty(disk_factory: DiskFactory, tmp_path: Path) -> None:
    vmdk = disk_factory.vmdk(DiskSpec("none", [PartitionSpec("exfat", 4, "BLANK")]), "monolithicFlat", tmp_path)
    with open_vmdk(vmdk) as img:
        [volume] = list_volumes(img)
        assert (volume.fs, volume.label, volume.offset, volume.readable) == ("exfat", "BLANK", 0, True)
        assert list(open_filesystem(img, 1).walk("/")) == []


def test_exfat_damaged_directory_is_reported(disk_factory: DiskFactory, tmp_path: Path) -> None:
    part = PartitionSpec("exfat", 4, "DMG", {"dir/a.txt": "a", "ok.txt": "fine"})
    raw = disk_factory.raw(DiskSpec("none", [part]), tmp_path)
    data = bytearray(raw.read_bytes())
    # Flip one byte of the name "a.txt" inside dir's entry set: its checksum no longer matches.
    at = data.find("a.txt".encode("utf-16-le"))
    assert at > 0
    data[at] ^= 0x20
    raw.write_bytes(bytes(data))
    from vmrestore.disks.fs_exfat import ExfatVolume  # the reader itself, over the raw image

    with open(raw, "rb") as fh:
        fs = open_filesystem(fh, 1, str(raw))
        assert fs.open("/ok.txt").read() == b"fine"
        with pytest.raises(CorruptImage, match="checksum"):
            fs.listdir("/dir")
        assert ExfatVolume(fh).label == "DMG"


# ----------------------------------------------------------------------------------------------- LVM2

ROOT = PartitionSpec("ext4", 6, "rootfs", {"etc/hostname": "lvm01\n", "etc/fstab": "/dev/vgdata/root / ext4\n"})
HOME = PartitionSpec(
    "ext4",
    10,
    "homefs",
    {
        "alice/big.bin": BIG,
        "alice/notes.txt": "lvm notes\n",
        "bob/empty": None,
    },
    {"alice/notes.txt": datetime(2022, 2, 22, 22, 22, 22, tzinfo=UTC)},
)
LVM_SPEC = DiskSpec(
    "gpt",
    [
        PartitionSpec("fat32", 0, "EFI", {"EFI/boot.txt": "efi"}),
        PartitionSpec(
            "lvm", 24, "vgdata", lvs=[LogicalVolumeSpec("root", ROOT), LogicalVolumeSpec("home", HOME, grow_mb=4)]
        ),
    ],
)


@pytest.mark.parametrize("subformat", ["monolithicSparse", "streamOptimized"])
def test_lvm_logical_volumes_listed_after_partitions_and_read(
    disk_factory: DiskFactory, tmp_path: Path, subformat: str
) -> None:
    vmdk = disk_factory.vmdk(LVM_SPEC, subformat, tmp_path, "vm.vmdk")
    mib = 1024 * 1024
    with open_vmdk(vmdk) as img:
        volumes = list_volumes(img, str(vmdk))
        assert [(v.index, v.fs, v.label, v.size, v.readable) for v in volumes] == [
            (1, "fat32", "EFI", 34 * mib, True),
            (2, "lvm2", "", 24 * mib, False),
            (3, "ext4", "vgdata/root", 6 * mib, True),
            (4, "ext4", "vgdata/home", 10 * mib, True),
        ]
        pv = volumes[1]
        assert pv.reason is not None and "vgdata/root, vgdata/home" in pv.reason
        # root's first extent: partition 2 starts at 35 MiB, pe_start is 1 MiB, root is extent 0
        assert volumes[2].offset == 36 * mib
        assert volumes[3].offset == 36 * mib + 6 * mib
        with pytest.raises(CorruptImage, match="listed as volumes of their own"):
            open_filesystem(img, 2, str(vmdk))
        _assert_tree(open_filesystem(img, 3, str(vmdk)), ROOT, ignore=("/lost+found",))
        home = open_filesystem(img, 4, str(vmdk))
        _assert_tree(home, HOME, ignore=("/lost+found",))
        # big.bin crosses from home's first segment (6 MiB) into its second (4 MiB, after root)
        assert home.stat("/alice/big.bin").size == len(BIG)
        assert open_filesystem(img, 1, str(vmdk)).open("/EFI/boot.txt").read() == b"efi"


def test_lvm_on_the_whole_disk(disk_factory: DiskFactory, tmp_path: Path) -> None:
    spec = DiskSpec("none", [PartitionSpec("lvm", 12, "vgwhole", lvs=[LogicalVolumeSpec("data", ROOT)])])
    vmdk = disk_factory.vmdk(spec, "monolithicSparse", tmp_path)
    with open_vmdk(vmdk) as img:
        assert [(v.index, v.fs, v.label, v.readable) for v in list_volumes(img)] == [
            (1, "lvm2", "", False),
            (2, "ext4", "vgwhole/data", True),
        ]
        assert open_filesystem(img, 2).open("/etc/hostname").read() == b"lvm01\n"


def test_lvm_damaged_metadata_keeps_the_pv_listed_with_a_reason(disk_factory: DiskFactory, tmp_path: Path) -> None:
    raw = disk_factory.raw(LVM_SPEC, tmp_path)
    data = bytearray(raw.read_bytes())
    pv = 35 * 1024 * 1024
    area = data[pv : pv + 1024 * 1024]
    assert area.count(b"vgdata {") >= 1
    # Every copy of the metadata text in the ring buffer: it no longer parses.
    data[pv : pv + 1024 * 1024] = area.replace(b"vgdata {", b"vgdata ]")
    raw.write_bytes(bytes(data))
    with open(raw, "rb") as fh:
        volumes = list_volumes(fh, str(raw))
        assert [(v.index, v.fs, v.readable) for v in volumes] == [(1, "fat32", True), (2, "lvm2", False)]
        assert volumes[1].reason is not None and "metadata cannot be read" in volumes[1].reason
        with pytest.raises(NotFound):
            open_filesystem(fh, 3, str(raw))


# ----------------------------------------------------------------------------------------------- LUKS


def test_luks_volume_is_listed_unreadable_with_a_reason(disk_factory: DiskFactory, tmp_path: Path) -> None:
    spec = DiskSpec("gpt", [PartitionSpec("ext4", 4, "BOOT", {"vmlinuz": "k"}), PartitionSpec("luks", 20)])
    vmdk = disk_factory.vmdk(spec, "monolithicSparse", tmp_path)
    with open_vmdk(vmdk) as img:
        boot, luks = list_volumes(img)
        assert (boot.fs, boot.readable) == ("ext4", True)
        assert (luks.index, luks.fs, luks.readable) == (2, "luks", False)
        assert luks.reason is not None and "LUKS" in luks.reason and "key" in luks.reason
        with pytest.raises(CorruptImage, match="LUKS"):
            open_filesystem(img, 2)
