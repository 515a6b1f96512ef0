"""Disk image fixtures: real file systems in real VMDKs, built by the disk bench (tests/bench/diskfactory.py).

Fixtures
--------
``disk_factory`` (session)
    A :class:`~tests.bench.diskfactory.DiskFactory`. Describe a disk and get a private copy::

        spec = DiskSpec("gpt", [PartitionSpec("ntfs", label="DATA", files={"Users/alice/a.txt": b"hi",
                                                                           "Users/bob": None})])
        raw = disk_factory.raw(spec, tmp_path)                               # sparse raw image
        vmdk = disk_factory.vmdk(spec, "streamOptimized", tmp_path, "vm.vmdk")  # descriptor path

    Values: ``bytes``/``str`` file content, ``None`` an empty directory, ``Symlink(target)`` (ext4/xfs).
    ``PartitionSpec.mtimes`` sets per-path mtimes; every other path gets ``DEFAULT_MTIME``. Builds are
    cached by a hash of the description in ``tests.bench.tools.CACHE_DIR``; what you get is a copy, so
    damaging it is fine. ``expected_tree(partition)`` gives every path ('/'-prefixed, parents included)
    with its expected content, for comparisons.

``backup_repo`` (function)
    A ghettoVCB repository in ``tmp_path/repo`` with two VMs (see :data:`REPO_LAYOUT`):

    - ``web01``: 3 points, one GPT disk with an NTFS volume ("SYSTEM") and a FAT32 volume ("EFI-DATA");
      the newest point is ``STATUS.warn``.
    - ``db01``: 2 points, disk 0 MBR with ext4 ("rootfs"), disk 1 unpartitioned ext4 ("pgdata").

    It returns a :class:`BackupRepo`: ``root`` (Path) and ``points`` (``{vm: [BuiltPoint, ...]}``, oldest
    first; each with ``folder``, ``created``, ``status``, ``disk_files`` and the ``spec`` it was built
    from, so ``spec.disks[i].partitions[j].files`` is the ground truth for disk *i*, volume *j*).

``make_repo`` (function)
    ``make_repo(vms, naming="date"|"numbered", root=None)`` builds any other layout
    (``{vm: [PointSpec, ...]}``), e.g. with ``compressed=True`` or ``status=None`` points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest

from tests.bench.diskfactory import (
    BuiltPoint,
    DiskFactory,
    DiskSpec,
    PartitionSpec,
    PointSpec,
    make_repository,
)


@dataclass
class BackupRepo:
    root: Path
    points: dict[str, list[BuiltPoint]]


def _web01(day: int, status: Literal["ok", "error", "warn"] | None) -> PointSpec:
    files = {
        "Users/alice/Documents/Q3-report.xlsx": f"report v{day}\n" * 50,
        "Users/alice/Desktop": None,
        "Users/bob/notes.txt": "bob's notes\n",
        "inetpub/wwwroot/index.html": f"<html>build {day}</html>",
        "Program Files/App/app.dll": bytes(range(256)) * 20,
    }
    if day >= 2:
        files["Users/alice/Documents/new-on-day-2.docx"] = b"PK\x03\x04 day two"
    efi = {"EFI/Boot/bootx64.efi": b"MZ" + bytes(1000), "readme.txt": f"efi {day}"}
    disk = DiskSpec(
        "gpt", [PartitionSpec("ntfs", 8, "SYSTEM", files), PartitionSpec("fat32", 0, "EFI-DATA", efi)]
    )
    return PointSpec(datetime(2024, 5, day, 22, 0, 5, tzinfo=UTC), [disk], status=status)


def _db01(day: int) -> PointSpec:
    root = {
        "etc/hostname": "db01\n",
        "etc/postgresql/postgresql.conf": f"shared_buffers = {128 * day}MB\n",
        "var/log/empty": None,
    }
    data = {"base/16384/1259": bytes([day]) * 8192, "PG_VERSION": "15\n"}
    return PointSpec(
        datetime(2024, 5, day, 23, 30, 0, tzinfo=UTC),
        [
            DiskSpec("mbr", [PartitionSpec("ext4", 4, "rootfs", root)]),
            DiskSpec("none", [PartitionSpec("ext4", 4, "pgdata", data)]),
        ],
    )


REPO_LAYOUT: dict[str, list[PointSpec]] = {
    "web01": [_web01(1, "ok"), _web01(2, "ok"), _web01(3, "warn")],
    "db01": [_db01(1), _db01(2)],
}


@pytest.fixture(scope="session")
def disk_factory() -> DiskFactory:
    return DiskFactory()


@pytest.fixture
def make_repo(disk_factory: DiskFactory, tmp_path: Path) -> Callable[..., BackupRepo]:
    def make(
        vms: Mapping[str, list[PointSpec]],
        naming: Literal["date", "numbered"] = "date",
        root: Path | None = None,
    ) -> BackupRepo:
        root = root or tmp_path / "repo"
        return BackupRepo(root, make_repository(disk_factory, root, vms, naming))

    return make


@pytest.fixture
def backup_repo(make_repo: Callable[..., BackupRepo]) -> BackupRepo:
    return make_repo(REPO_LAYOUT)
