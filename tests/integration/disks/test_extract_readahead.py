"""Extraction with the read-ahead thread (disks/readahead.py) on real streamOptimized images.

The ring of buffers is made small (64 KiB chunks) so a 3 MiB file makes dozens of hand-offs and every
buffer is reused many times; the bytes must be exactly the file put into the image. A cancel and a
damaged grain in the middle of the file must stop the reader thread, leave no partial file, and report
what happened as before.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec
from vmrestore.disks import readahead
from vmrestore.disks.extract import direct_plan, extract
from vmrestore.disks.filesystems import open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.errors import Cancelled
from vmrestore.model import Progress

pytestmark = pytest.mark.disktools

MIB = 1024 * 1024
PAYLOAD = random.Random(5).randbytes(3 * MIB + 777)
# Half text: those grains compress, so the inflate pool runs beside the read-ahead thread.
TEXT = b"".join(b"line %08d of a log file that compresses well\n" % i for i in range(70_000))


@pytest.fixture
def small_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readahead, "THREAD_CHUNK", 64 * 1024)
    monkeypatch.setattr(readahead, "_THREAD_FROM", 3 * 64 * 1024)


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "vmdk-readahead"]


@pytest.fixture
def so_disk(disk_factory: DiskFactory, tmp_path: Path) -> Path:
    files = {"big.bin": PAYLOAD, "log.txt": TEXT, "small.txt": b"tiny"}
    spec = DiskSpec("gpt", [PartitionSpec("ext4", 12, "RA", files)])
    return disk_factory.vmdk(spec, "streamOptimized", tmp_path / "vmdk")


@pytest.mark.usefixtures("small_ring")
def test_read_ahead_thread_gives_exactly_the_files_bytes(so_disk: Path, tmp_path: Path) -> None:
    started: list[int] = []
    real_work = readahead.SegmentReader._work

    def counting_work(self: readahead.SegmentReader) -> None:
        started.append(1)
        real_work(self)

    readahead.SegmentReader._work = counting_work  # type: ignore[method-assign]
    try:
        with open_vmdk(so_disk) as image:
            assert image.inflates, "a streamOptimized disk inflates its grains"
            fs = open_filesystem(image, 1, str(so_disk))
            result = extract(fs, ["/"], tmp_path / "out", "overwrite")
    finally:
        readahead.SegmentReader._work = real_work  # type: ignore[method-assign]
    assert result.skipped == ()
    assert len(started) == 2, "big.bin and log.txt are read ahead on a thread; small.txt inline"
    assert (tmp_path / "out" / "big.bin").read_bytes() == PAYLOAD
    assert (tmp_path / "out" / "log.txt").read_bytes() == TEXT
    assert (tmp_path / "out" / "small.txt").read_bytes() == b"tiny"
    assert _readers() == []


@pytest.mark.usefixtures("small_ring")
def test_cancel_mid_file_stops_the_reader_and_removes_the_partial_file(so_disk: Path, tmp_path: Path) -> None:
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
    assert _readers() == []


@pytest.mark.usefixtures("small_ring")
def test_damaged_grain_deep_in_the_file_is_reported_from_the_reader_thread(so_disk: Path, tmp_path: Path) -> None:
    with open_vmdk(so_disk) as image:
        fs = open_filesystem(image, 1, str(so_disk))
        plan = direct_plan(fs.open("/big.bin"))
        assert plan is not None
        first = plan[1][0][0]
        assert first is not None
        grain = (first + 2 * MIB) // 65536  # two MiB in: many chunks were handed over already
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
    assert _readers() == []
