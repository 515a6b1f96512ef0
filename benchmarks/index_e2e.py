"""Indexing end to end, NTFS and ext4, from scratch and incrementally, with a profile of what bounds it.

For each file system a volume of ``--dirs`` x ``--files-per-dir`` small files (200,000 by default, the
layout of ``index_ntfs``) is made by the disk bench (mkntfs + ntfs-3g; mke2fs -d), in a GPT disk in a
monolithicSparse VMDK, twice: point 1, and point 2 in which 1 % of the files changed (size and bytes).
NTFS point 2 is point 1's volume mounted with ntfs-3g and changed (tests/bench/ntfs_next.py), as a VM's
next backup is: unchanged files keep their FILE records byte for byte. ext4 point 2 is built anew.
All are cached by the bench after the first run. Page cache warm for every figure.

Printed per file system, each as files/s and CPU seconds (this process, all threads; one process):

- NTFS only, the read floor: the raw $MFT bytes through the VMDK, nothing parsed;
- the scan floor: ``fs.scan("/")`` as ``FileEntry`` values (reading and parsing, nothing stored);
- ``index_disk`` of point 1 into a fresh catalog (open the VMDK, list volumes, scan, stage, intern,
  merge, commit): the figure the issue's goal (>= 150,000 files/s) is about;
- ``index_disk`` of point 2 into a fresh catalog (from scratch) and into the catalog holding point 1
  (incremental: for NTFS the scan parses only the FILE records that changed, against the state kept with
  point 1, and the catalog extends the unchanged rows in one UPDATE): goal >= 5x faster than from scratch.

``--profile`` runs the fresh NTFS index once more under cProfile and prints the top functions by
their own time: what bounds it. The machine's load average is printed beside the figures.

Run: .venv/bin/python -m benchmarks.index_e2e [--fs ntfs,ext4] [--dirs 2000] [--files-per-dir 100] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec
from tests.bench.ntfs_next import next_point_vmdk
from vmrestore.app.catalog_index import index_disk
from vmrestore.catalog import open_store
from vmrestore.disks.filesystems import NtfsFileSystem, open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.disks.ntfs_mft_read import mft_layout, read_mft
from vmrestore.model import DiskInfo, RestorePoint


def bench_spec(fs: str, dirs: int, per_dir: int, changed_every: int = 0) -> DiskSpec:
    """``index_ntfs``'s layout; with ``changed_every`` = 100, every hundredth file differs (1 %)."""
    files: dict[str, bytes | str | None] = {}
    for d in range(dirs):
        for f in range(per_dir):
            i = d * per_dir + f
            size = 3000 if i % 10 == 0 else i % 600
            byte = 65 + i % 26
            if changed_every and i % changed_every == 7:
                size, byte = size + 1, byte + 1
            files[f"dept{d // 100:02d}/team{d:04d}/file{f:03d}.txt"] = bytes([byte]) * size
    # ext4: 4 GiB (a sparse image) for its default 16 KiB-per-inode ratio to give 200,000+ inodes.
    size = 4096 if fs == "ext4" else 1024
    return DiskSpec("gpt", [PartitionSpec(fs, size, "BENCH", files)])  # type: ignore[arg-type]


def change_one_percent(dirs: int, per_dir: int) -> Callable[[Path], None]:
    """Rewrite every hundredth file of the bench layout (one byte longer, other bytes) on a mounted volume."""
    def edit(root: Path) -> None:
        for d in range(dirs):
            for f in range(per_dir):
                i = d * per_dir + f
                if i % 100 == 7:
                    size = (3000 if i % 10 == 0 else i % 600) + 1
                    (root / f"dept{d // 100:02d}/team{d:04d}/file{f:03d}.txt").write_bytes(bytes([66 + i % 26]) * size)
    return edit


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, count) of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    count = fn()
    return time.perf_counter() - start, time.process_time() - cpu, count


def point(vm: str, month: int, vmdk: Path) -> RestorePoint:
    disk = DiskInfo(vmdk.name, 0, "monolithicSparse")
    return RestorePoint(f"bench/{vm}/point-{month}", "bench", vm, datetime(2024, month, 1, tzinfo=UTC),
                        str(vmdk.parent), "ok", disks=(disk,))


def catalog_with(path: Path, points: list[RestorePoint]) -> str:
    store = open_store(str(path))
    try:
        store.upsert_points(points)
    finally:
        store.close()
    return str(path)


def line(label: str, wall: float, cpu: float, files: int, extra: str = "") -> str:
    return (f"  {label:44s} {files:>8,} files in {wall:6.2f} s = {files / wall:>9,.0f} files/s; "
            f"CPU {cpu:6.2f} s = {files / cpu:>9,.0f} files/CPU-s{extra}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fs", default="ntfs,ext4")
    parser.add_argument("--dirs", type=int, default=2000)
    parser.add_argument("--files-per-dir", type=int, default=100)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    factory = DiskFactory()
    work = Path(tempfile.mkdtemp(prefix="index-e2e-"))
    print(f"{args.dirs * args.files_per_dir:,} files per volume; everything in this one process (no pool); {load()}")
    try:
        run_all(args, factory, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{load()}")
    return 0


def run_all(args: argparse.Namespace, factory: DiskFactory, work: Path) -> None:
    for kind in args.fs.split(","):
        t0 = time.perf_counter()
        vmdk1 = factory.vmdk(bench_spec(kind, args.dirs, args.files_per_dir), "monolithicSparse",
                             work / kind / "p1", "bench.vmdk")
        if kind == "ntfs":
            vmdk2 = next_point_vmdk(factory, bench_spec(kind, args.dirs, args.files_per_dir),
                                    change_one_percent(args.dirs, args.files_per_dir),
                                    f"1pct-{args.dirs}x{args.files_per_dir}", work / kind / "p2", "bench.vmdk")
        else:
            vmdk2 = factory.vmdk(bench_spec(kind, args.dirs, args.files_per_dir, 100), "monolithicSparse",
                                 work / kind / "p2", "bench.vmdk")
        print(f"\n== {kind}: two points ready in {time.perf_counter() - t0:.1f} s")
        for vmdk in (vmdk1, vmdk2):
            with open(vmdk, "rb") as fh:  # warm the page cache
                while fh.read(8 << 20):
                    pass
        vm = f"{kind}200k"
        p1, p2 = point(vm, 1, vmdk1), point(vm, 2, vmdk2)

        def scan_only(vmdk: Path = vmdk1) -> int:
            with open_vmdk(vmdk) as image:
                fs = open_filesystem(image, 1, what=str(vmdk))
                return sum(1 for _ in fs.scan("/"))

        def index(catalog: str, p: RestorePoint, vmdk: Path) -> Callable[[], int]:
            def run() -> int:
                result = index_disk(catalog, p.id, str(vmdk), "disk0")
                assert not result.errors, result.errors
                return result.files
            return run

        def read_only(vmdk: Path = vmdk1) -> int:
            with open_vmdk(vmdk) as image:
                fs = open_filesystem(image, 1, what=str(vmdk))
                assert isinstance(fs, NtfsFileSystem)
                layout = mft_layout(fs.fs, str(vmdk))
                return sum(len(chunk) for chunk in read_mft(fs.stream, layout)) // layout.record_size

        if kind == "ntfs":
            wall, cpu, records = timed(read_only)
            print(f"  {'raw $MFT read (read floor)':44s} {records:>8,} records in {wall:6.2f} s; CPU {cpu:6.2f} s")
        print(line("scan only (scan floor, FileEntry values)", *timed(scan_only)))
        fresh1 = catalog_with(work / f"{kind}-fresh1.sqlite", [p1])
        wall1, cpu1, n1 = timed(index(fresh1, p1, vmdk1))
        print(line("point 1 -> fresh catalog", wall1, cpu1, n1, "   (goal >= 150,000 files/s)"))
        fresh2 = catalog_with(work / f"{kind}-fresh2.sqlite", [p2])
        wall2, cpu2, n2 = timed(index(fresh2, p2, vmdk2))
        print(line("point 2 (1 % changed) -> fresh catalog", wall2, cpu2, n2))
        inc = catalog_with(work / f"{kind}-inc.sqlite", [p1, p2])
        index(inc, p1, vmdk1)()
        wall3, cpu3, n3 = timed(index(inc, p2, vmdk2))
        print(line("point 2 -> catalog holding point 1", wall3, cpu3, n3,
                   f"   = {wall2 / wall3:.1f}x from scratch (CPU {cpu2 / cpu3:.1f}x; goal >= 5x)"))
        if args.profile and kind == args.fs.split(",")[0]:
            prof_catalog = catalog_with(work / f"{kind}-profile.sqlite", [p1])
            profiler = cProfile.Profile()
            profiler.enable()
            index(prof_catalog, p1, vmdk1)()
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
            print("  profile of point 1 -> fresh catalog (cProfile, by own time):")
            print("\n".join("    " + row for row in out.getvalue().splitlines()[6:30] if row.strip()))


if __name__ == "__main__":
    sys.exit(main())
