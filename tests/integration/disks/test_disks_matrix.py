"""Every VMDK subformat × partition table × file system: the tree, the bytes and the times come back.

One disk per table holds an NTFS, an ext4 and a FAT32 volume (so 2 raw builds and 8 conversions cover
the 24 cases); the cache in tests.bench makes reruns cost only the copies.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.bench.diskfactory import (
    SUBFORMATS,
    DiskFactory,
    DiskSpec,
    PartitionSpec,
    Symlink,
    expected_tree,
    mtime_of,
)
from vmrestore.disks.filesystems import open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.disks.volumes import list_volumes
from vmrestore.model import FileType

pytestmark = pytest.mark.disktools

BIG = bytes((i * 7919) % 251 for i in range(3 * 1024 * 1024 + 17))  # > 1 MiB chunks, many grains


def _files(tag: str) -> dict[str, bytes | str | Symlink | None]:
    return {
        "Users/alice/Documents/Q3-report.xlsx": f"quarterly numbers on {tag}\n" * 300,
        "Users/alice/Desktop": None,
        "Users/bob/empty.txt": b"",
        "Users/bob/Zürich – notes.txt": "ünïcödé names survive\n",
        "Program Files/App/big.bin": BIG,
        "deep/a/b/c/d/e/leaf.txt": "deep",
        "README.md": f"{tag} volume\n",
    }


MTIMES = {
    "README.md": datetime(2019, 12, 31, 23, 59, 58, tzinfo=UTC),
    "Users/bob/empty.txt": datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC),
}

PARTS = {
    "ntfs": PartitionSpec("ntfs", 12, "NTFSVOL", _files("ntfs"), MTIMES),
    "ext4": PartitionSpec("ext4", 8, "EXTVOL", _files("ext4"), MTIMES),
    "fat32": PartitionSpec("fat32", 0, "FATVOL", _files("fat32"), MTIMES),
}
ORDER = ["ntfs", "ext4", "fat32"]


def _spec(table: str) -> DiskSpec:
    return DiskSpec(table, [PARTS[fs] for fs in ORDER])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def vmdk_for(disk_factory: DiskFactory, tmp_path_factory: pytest.TempPathFactory):
    made: dict[tuple[str, str], Path] = {}

    def get(table: str, subformat: str) -> Path:
        if (table, subformat) not in made:
            made[table, subformat] = disk_factory.vmdk(
                _spec(table), subformat, tmp_path_factory.mktemp(f"{table}-{subformat}"), "vm.vmdk"
            )
        return made[table, subformat]

    return get


def _check_volume(fs_kind: str, part: PartitionSpec, vmdk: Path, volume_index: int) -> None:
    with open_vmdk(vmdk) as img:
        volumes = list_volumes(img, str(vmdk))
        assert [(v.fs, v.label, v.readable) for v in volumes] == [
            ("ntfs", "NTFSVOL", True),
            ("ext4", "EXTVOL", True),
            ("fat32", "FATVOL", True),
        ]
        assert volumes[0].offset == 1024 * 1024
        assert volumes[0].size == 12 * 1024 * 1024
        fs = open_filesystem(img, volume_index, str(vmdk))
        seen = {e.path: e for e in fs.walk("/") if e.path != "/lost+found"}
        expected = expected_tree(part)
        assert sorted(seen) == sorted(expected)
        for path, value in expected.items():
            entry = seen[path]
            if value is None:
                assert entry.type is FileType.DIR, path
                continue
            assert isinstance(value, bytes)
            assert entry.type is FileType.FILE, path
            assert entry.size == len(value), path
            with fs.open(path) as fh:
                got = hashlib.sha256(fh.read()).hexdigest()
            assert got == hashlib.sha256(value).hexdigest(), path
            want = mtime_of(part, path)
            assert entry.mtime is not None
            # FAT keeps local wall-clock time in 2-second steps; the others keep it exactly.
            slack = timedelta(seconds=2) if fs_kind == "fat32" else timedelta(0)
            assert abs(entry.mtime - want) <= slack, (path, entry.mtime, want)
        if fs_kind != "fat32":
            assert seen["/Users/alice/Desktop"].mtime == mtime_of(part, "/Users/alice/Desktop")
        # stat and listdir agree with walk, names case-preserved
        assert fs.stat("/Users/bob/Zürich – notes.txt").size == len("ünïcödé names survive\n".encode())
        assert [e.name for e in fs.listdir("/Users")] == ["alice", "bob"]


@pytest.mark.parametrize("fs_kind", ORDER)
@pytest.mark.parametrize("table", ["gpt", "mbr"])
@pytest.mark.parametrize("subformat", SUBFORMATS)
def test_tree_bytes_and_times_round_trip(vmdk_for, subformat: str, table: str, fs_kind: str) -> None:
    vmdk = vmdk_for(table, subformat)
    _check_volume(fs_kind, PARTS[fs_kind], vmdk, ORDER.index(fs_kind) + 1)


@pytest.mark.parametrize("fs_kind", ORDER)
def test_unpartitioned_disk_is_one_volume(disk_factory: DiskFactory, tmp_path: Path, fs_kind: str) -> None:
    part = PartitionSpec(fs_kind, PARTS[fs_kind].size_mb, "WHOLE", {"a/b.txt": "whole disk"})  # type: ignore[arg-type]
    vmdk = disk_factory.vmdk(DiskSpec("none", [part]), "monolithicSparse", tmp_path)
    with open_vmdk(vmdk) as img:
        [volume] = list_volumes(img)
        assert (volume.index, volume.fs, volume.label, volume.offset, volume.readable) == (
            1,
            fs_kind,
            "WHOLE",
            0,
            True,
        )
        fs = open_filesystem(img, 1)
        assert fs.open("/a/b.txt").read() == b"whole disk"


def test_ntfs_root_hides_metafiles_and_self_reference(vmdk_for) -> None:
    with open_vmdk(vmdk_for("gpt", "monolithicSparse")) as img:
        fs = open_filesystem(img, 1)
        names = [e.name for e in fs.listdir("/")]
        assert names == ["Program Files", "README.md", "Users", "deep"]
        assert not any(e.name.startswith("$") or e.name == "." for e in fs.walk("/"))


def test_ext4_symlinks_are_reported_not_followed(disk_factory: DiskFactory, tmp_path: Path) -> None:
    part = PartitionSpec(
        "ext4",
        4,
        "LINKS",
        {
            "etc/passwd": "root:x:0:0",
            "home": None,
            "home/link": Symlink("/etc/passwd"),
            "up": Symlink("../.."),
        },
    )
    vmdk = disk_factory.vmdk(DiskSpec("mbr", [part]), "streamOptimized", tmp_path)
    with open_vmdk(vmdk) as img:
        fs = open_filesystem(img, 1)
        link = fs.stat("/home/link")
        assert (link.type, link.target) == (FileType.SYMLINK, "/etc/passwd")
        assert {e.path: e.type for e in fs.walk("/") if e.path != "/lost+found"} == {
            "/etc": FileType.DIR,
            "/etc/passwd": FileType.FILE,
            "/home": FileType.DIR,
            "/home/link": FileType.SYMLINK,
            "/up": FileType.SYMLINK,
        }
        from vmrestore.errors import InvalidInput, NotFound

        with pytest.raises(InvalidInput):
            fs.open("/home/link")
        with pytest.raises(NotFound):
            fs.listdir("/up/etc")  # a link is never traversed as a directory


@pytest.mark.slow
def test_xfs_volume(disk_factory: DiskFactory, tmp_path: Path) -> None:
    part = PartitionSpec("xfs", 0, "XFSVOL", {"srv/www/index.html": "<p>xfs</p>", "srv/empty": None})
    vmdk = disk_factory.vmdk(DiskSpec("gpt", [part]), "monolithicSparse", tmp_path)
    with open_vmdk(vmdk) as img:
        [volume] = list_volumes(img)
        assert (volume.fs, volume.label, volume.readable) == ("xfs", "XFSVOL", True)
        fs = open_filesystem(img, 1)
        assert sorted(e.path for e in fs.walk("/")) == [
            "/srv",
            "/srv/empty",
            "/srv/www",
            "/srv/www/index.html",
        ]
        assert fs.open("/srv/www/index.html").read() == b"<p>xfs</p>"
