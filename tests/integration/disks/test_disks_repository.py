"""The backup_repo fixture lays out a ghettoVCB repository whose disks read back as described."""

from __future__ import annotations

import tarfile
from datetime import UTC, datetime

import pytest

from tests.bench.diskfactory import DiskSpec, PartitionSpec, PointSpec, expected_tree
from vmrestore.disks.filesystems import open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.disks.volumes import list_volumes
from vmrestore.model import FileType

pytestmark = pytest.mark.disktools


def test_backup_repo_layout_and_contents(backup_repo) -> None:
    assert sorted(p.name for p in backup_repo.root.iterdir()) == ["db01", "web01"]
    web = backup_repo.points["web01"]
    assert [p.folder.name for p in web] == [
        "web01-2024-05-01_22-00-05",
        "web01-2024-05-02_22-00-05",
        "web01-2024-05-03_22-00-05",
    ]
    assert (web[2].folder / "STATUS.warn").exists() and (web[0].folder / "STATUS.ok").exists()
    vmx = (backup_repo.points["db01"][0].folder / "db01.vmx").read_text()
    assert 'scsi0:0.fileName = "db01.vmdk"' in vmx and 'scsi0:1.fileName = "db01_1.vmdk"' in vmx
    assert 'displayName = "db01"' in vmx

    for points in backup_repo.points.values():
        for point in points:
            for disk_file, disk_spec in zip(point.disk_files, point.spec.disks, strict=True):
                with open_vmdk(point.folder / disk_file) as img:
                    volumes = list_volumes(img)
                    assert [v.fs for v in volumes] == [p.fs for p in disk_spec.partitions]
                    for volume, part in zip(volumes, disk_spec.partitions, strict=True):
                        fs = open_filesystem(img, volume.index)
                        files = {e.path for e in fs.walk() if e.type is FileType.FILE}
                        want = {p for p, v in expected_tree(part).items() if v is not None}
                        assert files == want
                        for path in want:
                            assert fs.open(path).read() == expected_tree(part)[path]


def test_numbered_and_compressed_points(make_repo) -> None:
    disk = DiskSpec("mbr", [PartitionSpec("ext4", 4, "r", {"f.txt": "x"})])
    points = [
        PointSpec(datetime(2024, 1, 1, tzinfo=UTC), [disk], subformat="monolithicFlat"),
        PointSpec(datetime(2024, 1, 2, tzinfo=UTC), [disk], status=None, compressed=True),
    ]
    repo = make_repo({"vm": points}, naming="numbered")
    first, second = repo.points["vm"]
    assert first.folder.name == "vm-0" and (first.folder / "vm-flat.vmdk").exists()
    assert second.folder.name == "vm-1.gz" and second.folder.is_file()
    with tarfile.open(second.folder) as tar:
        assert sorted(tar.getnames()) == ["vm-1", "vm-1/vm.vmdk", "vm-1/vm.vmx"]
