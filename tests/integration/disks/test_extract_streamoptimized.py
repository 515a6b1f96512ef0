"""Extraction of large files from real streamOptimized images: the reused read window, the inflate pool.

Each compressed read lands in one window that the extent keeps (``extents._SparseExtent._window_of``)
while pool threads inflate grains out of it; the bytes must be exactly the files put into the image,
for random data (stored grains, inflated inline) and for text (grains that compress: the pool). A cancel
and a damaged grain in the middle of a file must leave no partial file and report what happened.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec
from vmrestore.disks import extents
from vmrestore.disks.extract import direct_plan, extract
from vmrestore.disks.filesystems import open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.errors import Cancelled
from vmrestore.model import Progress

pytestmark = pytest.mark.disktools

MIB = 1024 * 1024
PAYLOAD = random.Random(5).randbytes(3 * MIB + 777)
TEXT = b"".join(b"line %08d of a log file that compresses well\n" % i for i in range(70_000))


@pytest.fixture
def so_disk(disk_factory: DiskFactory, tmp_path: Path) -> Path:
    files = {"big.bin": PAYLOAD, "log.txt": TEXT, "small.txt": b"tiny"}
    spec = DiskSpec("gpt", [PartitionSpec("ext4", 12, "SO", files)])
    return disk_factory.vmdk(spec, "streamOptimized", tmp_path / "vmdk")


def test_reused_window_gives_exactly_the_files_bytes(
    so_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extents, "_pool", None)
    monkeypatch.setattr(extents, "INFLATE_WORKERS", 2)
    windows: list[object] = []  # kept alive, so two different windows never share an id
    reads: list[int] = []
    real = extents._SparseExtent._window_of

    def spy(self: extents._SparseExtent, size: int) -> memoryview:
        view = real(self, size)
        windows.append(view.obj)
        reads.append(size)
        return view

    monkeypatch.setattr(extents._SparseExtent, "_window_of", spy)
    try:
        with open_vmdk(so_disk) as image:
            fs = open_filesystem(image, 1, str(so_disk))
            result = extract(fs, ["/"], tmp_path / "out", "overwrite")
        assert extents._pool is not None, "the text's grains compress: they were inflated on the pool"
    finally:
        if extents._pool is not None:
            extents._pool.shutdown(wait=True)
    assert result.skipped == ()
    assert len(reads) > 5
    distinct = len({id(window) for window in windows})
    assert distinct <= 3, f"{distinct} windows for {len(reads)} reads: the window is reused"
    assert (tmp_path / "out" / "big.bin").read_bytes() == PAYLOAD
    assert (tmp_path / "out" / "log.txt").read_bytes() == TEXT
    assert (tmp_path / "out" / "small.txt").read_bytes() == b"tiny"


def test_cancel_mid_file_removes_the_partial_file(so_disk: Path, tmp_path: Path) -> None:
    cancel = threading.Event()
    seen: list[float] = []

    def on_progress(progress: Progress) -> None:
        if progress.fraction is not None and progress.fraction > 0.2:
            seen.append(progress.fraction)
            cancel.set()

    out = tmp_path / "out"
    with open_vmdk(so_disk) as image:
        fs = open_filesystem(image, 1, str(so_disk))
        with pytest.raises(Cancelled):
            extract(fs, ["/big.bin"], out, "overwrite", on_progress=on_progress, cancel=cancel)
    assert seen and seen[0] < 0.9, "cancelled in the middle of the file"
    assert list(out.iterdir()) == []


def test_damaged_grain_deep_in_the_file_is_reported_and_the_next_file_restored(
    so_disk: Path, tmp_path: Path
) -> None:
    with open_vmdk(so_disk) as image:
        fs = open_filesystem(image, 1, str(so_disk))
        plan = direct_plan(fs.open("/big.bin"))
        assert plan is not None
        first = plan[1][0][0]
        assert first is not None
        grain = (first + 2 * MIB) // 65536  # two MiB in: many windows were read already
        ext = image._vmdk.disks[0]
        table = ext._lookup_grain_table(grain // int(ext._grain_table_size))
        at = int(table[grain % int(ext._grain_table_size)]) * 512
    with open(so_disk, "r+b") as fh:
        fh.seek(at + 12 + 100)
        fh.write(b"\x00\xff" * 100)
    with open_vmdk(so_disk) as image:
        fs = open_filesystem(image, 1, str(so_disk))
        result = extract(fs, ["/big.bin", "/log.txt"], tmp_path / "out", "overwrite")
    assert [s.path for s in result.skipped] == ["/big.bin"]
    assert "grain" in result.skipped[0].reason
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["log.txt"]
    assert (tmp_path / "out" / "log.txt").read_bytes() == TEXT
