"""Discovery of ghettoVCB restore points in a real folder tree with real qemu-img VMDKs and junk."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.bench.tools import require_tool
from vmrestore.catalog.layout import discover

MIB = 1 << 20


def vmdk(path: Path, subformat: str, size: str = "16M") -> None:
    qemu_img = require_tool("qemu-img", "qemu-utils")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [qemu_img, "create", "-q", "-f", "vmdk", "-o", f"subformat={subformat}", str(path), size], check=True
    )


def vmx(folder: Path, name: str, disks: dict[str, str]) -> None:
    lines = ['.encoding = "UTF-8"', f'displayName = "{name}"', 'guestOS = "other-64"']
    for key, file_name in disks.items():
        lines += [f'{key}.present = "TRUE"', f'{key}.fileName = "{file_name}"']
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.vmx").write_text("\n".join(lines) + "\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    web = root / "web01"
    # Dated point: disk 0 beside the .vmx, disk 1 on another datastore, copied into a sub-folder.
    p1 = web / "web01-2024-09-01_22-00-00"
    vmx(p1, "web01", {"scsi0:0": "web01.vmdk", "scsi0:1": "/vmfs/volumes/datastore2/web01/web01_1.vmdk"})
    vmdk(p1 / "web01.vmdk", "monolithicSparse")
    vmdk(p1 / "datastore2" / "web01_1.vmdk", "monolithicFlat", "8M")
    (p1 / "STATUS.ok").write_text("")
    # Disk named by a relative sub-folder path; a rerun left warn and ok: the worse one wins.
    p2 = web / "web01-2024-09-02_22-00-00"
    vmx(p2, "web01", {"sata0:0": "disks/web01.vmdk"})
    vmdk(p2 / "disks" / "web01.vmdk", "streamOptimized")
    (p2 / "STATUS.ok").write_text("")
    (p2 / "STATUS.warn").write_text("")
    # A point whose disk file is missing.
    p3 = web / "web01-2024-09-05_22-00-00"
    vmx(p3, "web01", {"scsi0:0": "web01.vmdk"})
    (p3 / "STATUS.error").write_text("")
    # Compressed points.
    (web / "web01-2024-09-03_22-00-00.tar.gz").write_bytes(b"x" * 1000)
    (web / "web01-2024-09-04_22-00-00.gz").write_bytes(b"y" * 10)
    # Junk inside a VM folder.
    (web / "web01-2024-13-01_22-00-00").mkdir()  # month 13
    (web / "other-2024-09-01_22-00-00").mkdir()  # another VM's name
    (web / "notes.txt").write_text("hi")
    (web / "web01-2024-09-06_22-00-00.zip").write_text("not ghettoVCB")
    # Numbered rotation: created from the .vmx mtime; one unreadable .vmx; one without a .vmx.
    db = root / "db01"
    n1 = db / "db01-1"
    vmx(n1, "db01", {"scsi0:0": "db01.vmdk"})
    vmdk(n1 / "db01.vmdk", "twoGbMaxExtentSparse")
    stamp = datetime(2024, 8, 1, 3, 0, 0, tzinfo=UTC).timestamp()
    os.utime(n1 / "db01.vmx", (stamp, stamp))
    n2 = db / "db01-2"
    n2.mkdir(parents=True)
    (n2 / "db01.vmx").write_bytes(b"\x00\x00garbage\xff")
    os.utime(n2 / "db01.vmx", (stamp + 86400, stamp + 86400))
    (db / "db01-3").mkdir()
    os.utime(db / "db01-3", (stamp - 86400, stamp - 86400))  # no .vmx: the folder's mtime
    # Junk at the top.
    (root / "README.txt").write_text("backups")
    (root / ".snapshot").mkdir()
    (root / "empty").mkdir()
    return root


@pytest.mark.disktools
def test_discover_all_variants(repo: Path) -> None:
    points = {p.id: p for p in discover(repo, "nas")}
    assert sorted(points) == sorted(
        [
            "nas/db01/db01-1",
            "nas/db01/db01-2",
            "nas/db01/db01-3",
            "nas/web01/web01-2024-09-01_22-00-00",
            "nas/web01/web01-2024-09-02_22-00-00",
            "nas/web01/web01-2024-09-03_22-00-00.tar.gz",
            "nas/web01/web01-2024-09-04_22-00-00.gz",
            "nas/web01/web01-2024-09-05_22-00-00",
        ]
    )
    p1 = points["nas/web01/web01-2024-09-01_22-00-00"]
    assert (p1.vm, p1.repo, p1.status, p1.browsable) == ("web01", "nas", "ok", True)
    assert p1.created == datetime(2024, 9, 1, 22, 0, 0, tzinfo=UTC)
    assert [(d.controller_key, d.file, d.format, d.capacity, d.error) for d in p1.disks] == [
        ("scsi0:0", "web01.vmdk", "monolithicSparse", 16 * MIB, None),
        ("scsi0:1", "datastore2/web01_1.vmdk", "monolithicFlat", 8 * MIB, None),
    ]
    files = [f for f in Path(p1.path).rglob("*") if f.is_file()]
    assert p1.size == sum(f.stat().st_size for f in files) and p1.size > 8 * MIB

    p2 = points["nas/web01/web01-2024-09-02_22-00-00"]
    assert p2.status == "warn"
    assert [(d.file, d.format) for d in p2.disks] == [("disks/web01.vmdk", "streamOptimized")]

    p3 = points["nas/web01/web01-2024-09-05_22-00-00"]
    assert (p3.status, p3.browsable) == ("error", False)
    assert p3.disks[0].error is not None and "not in the restore point" in p3.disks[0].error

    tgz = points["nas/web01/web01-2024-09-03_22-00-00.tar.gz"]
    assert (tgz.status, tgz.browsable, tgz.size) == ("compressed", False, 1000)
    assert tgz.created == datetime(2024, 9, 3, 22, 0, 0, tzinfo=UTC)
    assert points["nas/web01/web01-2024-09-04_22-00-00.gz"].status == "compressed"

    n1 = points["nas/db01/db01-1"]
    assert (n1.status, n1.browsable) == ("unknown", True)
    assert n1.created == datetime(2024, 8, 1, 3, 0, 0, tzinfo=UTC)
    assert n1.disks[0].format == "twoGbMaxExtentSparse" and n1.disks[0].capacity == 16 * MIB

    n2 = points["nas/db01/db01-2"]
    assert (n2.status, n2.browsable) == ("error", False)
    assert n2.reason is not None and "db01.vmx" in n2.reason
    assert n2.created == datetime(2024, 8, 2, 3, 0, 0, tzinfo=UTC)

    n3 = points["nas/db01/db01-3"]
    assert n3.status == "error" and n3.reason is not None and "no .vmx" in n3.reason
    assert n3.created == datetime(2024, 7, 31, 3, 0, 0, tzinfo=UTC)


@pytest.mark.disktools
def test_order_newest_first_per_vm(repo: Path) -> None:
    ids = [p.id.split("/", 2)[2] for p in discover(repo, "nas")]
    assert ids[:3] == ["db01-2", "db01-1", "db01-3"]
    web = [i for i in ids if i.startswith("web01")]
    assert web == sorted(web, reverse=True)


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        discover(tmp_path / "nope", "nas")


def test_empty_repo(tmp_path: Path) -> None:
    assert discover(tmp_path, "nas") == []
