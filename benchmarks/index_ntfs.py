"""Index an NTFS volume of ~200,000 files: the $MFT scan beside dissect's walk, the raw read floor, the catalog.

The volume (2,000 directories x 100 small files, in 20 department folders, one GPT partition, in a
monolithicSparse VMDK) is made by the disk bench with mkntfs + ntfs-3g FUSE and cached: the first run
spends about a minute building it, later runs reuse it. One run prints, page cache warm for all:

- the floor: reading the raw $MFT bytes (its runs, 1 MiB reads, 4 MiB chunks) through the VMDK;
- ``NtfsFileSystem.scan("/")`` (ntfs_mft): files/s, split into read and parse time;
- dissect's directory walk ``NtfsFileSystem.walk("/")``: files/s (the whole volume unless --walk-subset);
  the two sets are compared, so the figures are for the same answer;
- ``index_disk`` into a fresh SQLite catalog, end to end (open the VMDK, list volumes, scan, stage,
  intern, merge): files/s;
- the Qt event loop under qasync (QT_QPA_PLATFORM=offscreen) with a 5 ms QTimer while ``index_disk``
  runs through ``loop.run_in_executor`` in a ProcessPoolExecutor (how the app runs it), then in a thread
  for contrast: worst and p99 gap. Goal: worst < 50 ms in the process case.

Run: .venv/bin/python -m benchmarks.index_ntfs [--dirs 2000] [--files-per-dir 100] [--walk-subset]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec
from vmrestore.app.catalog_index import DiskIndexResult, index_disk
from vmrestore.catalog import open_store
from vmrestore.disks.filesystems import NtfsFileSystem, open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.disks.ntfs_mft_read import mft_layout, read_mft
from vmrestore.model import DiskInfo, RestorePoint

TICK_MS = 5
POINT_ID = "bench/ntfs200k/point-1"


def bench_spec(dirs: int, per_dir: int) -> DiskSpec:
    """Small files (most resident in their FILE record, every tenth one cluster-sized)."""
    files: dict[str, bytes | str | None] = {}
    for d in range(dirs):
        for f in range(per_dir):
            i = d * per_dir + f
            size = 3000 if i % 10 == 0 else i % 600
            files[f"dept{d // 100:02d}/team{d:04d}/file{f:03d}.txt"] = bytes([65 + i % 26]) * size
    return DiskSpec("gpt", [PartitionSpec("ntfs", 1024, "BENCH", files)])


def _best(runs: int, fn: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(runs):
        start = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - start)
    return best, count


def _ntfs(vmdk_image: object) -> NtfsFileSystem:
    fs = open_filesystem(vmdk_image, 1, what="bench")  # type: ignore[arg-type]
    assert isinstance(fs, NtfsFileSystem)
    return fs


def _fresh_catalog(work: Path, vmdk: Path, name: str) -> str:
    catalog = str(work / f"{name}.sqlite")
    store = open_store(catalog)
    try:
        disk = DiskInfo(vmdk.name, 0, "monolithicSparse")
        point = RestorePoint(POINT_ID, "bench", "ntfs200k", datetime(2024, 6, 1, tzinfo=UTC), str(vmdk.parent),
                             "ok", disks=(disk,))
        store.upsert_points([point])
    finally:
        store.close()
    return catalog


def _stall_run(kind: str, executor: Executor, catalog: str, vmdk: Path) -> tuple[list[float], float, int]:
    """Gaps between 5 ms timer ticks (ms) while index_disk runs in ``executor``; (gaps, seconds, files)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from qasync import QEventLoop

    app = QApplication.instance() or QApplication(sys.argv)
    loop = QEventLoop(app)
    asyncio.set_event_loop(loop)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)

    async def run() -> tuple[float, int]:
        await asyncio.sleep(0.2)  # let the timer settle
        gaps.clear()
        last[0] = time.perf_counter()
        start = time.perf_counter()
        result: DiskIndexResult = await loop.run_in_executor(
            executor, index_disk, catalog, POINT_ID, str(vmdk), "disk0")
        took = time.perf_counter() - start
        assert not result.errors, result.errors
        return took, result.files

    timer.start()
    try:
        took, files = loop.run_until_complete(run())
    finally:
        timer.stop()
        loop.close()
        asyncio.set_event_loop(None)
    print(f"  [{kind}] index_disk {files} files in {took:.2f} s while the timer ran")
    return gaps, took, files


def _noop() -> int:
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dirs", type=int, default=2000)
    parser.add_argument("--files-per-dir", type=int, default=100)
    parser.add_argument("--walk-subset", action="store_true", help="walk only /dept00 (about 5 %% of the files)")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()

    spec = bench_spec(args.dirs, args.files_per_dir)
    factory = DiskFactory()
    work = Path(tempfile.mkdtemp(prefix="index-ntfs-"))
    t0 = time.perf_counter()
    vmdk = factory.vmdk(spec, "monolithicSparse", work / "point", "bench.vmdk")
    print(f"volume with {args.dirs * args.files_per_dir:,} files: VMDK ready in {time.perf_counter() - t0:.1f} s "
          f"({vmdk.stat().st_size / 2**20:.0f} MiB; built once, cached under {factory.cache})")
    if args.build_only:
        return 0
    with open(vmdk, "rb") as fh:  # warm the page cache: every figure below is a warm-cache figure
        while fh.read(8 << 20):
            pass

    with open_vmdk(vmdk) as image:
        fs = _ntfs(image)
        layout = mft_layout(fs.fs, "bench")

        def read_floor() -> int:
            return sum(len(chunk) for chunk in read_mft(fs.stream, layout))

        floor_s, mft_bytes = _best(3, read_floor)
        records = mft_bytes // layout.record_size
        print(f"raw $MFT read (floor): {mft_bytes / 2**20:.0f} MiB, {records:,} records in {floor_s * 1000:.0f} ms "
              f"= {mft_bytes / floor_s / 2**20:,.0f} MiB/s = {records / floor_s:,.0f} records/s")

        scanned: set[object] = set()

        def do_scan() -> int:
            scanned.clear()
            scanned.update(fs.scan("/"))
            return len(scanned)

        scan_s, scan_n = _best(3, do_scan)
        stats = fs.scan_stats
        assert stats is not None
        print(f"scan (ntfs_mft):       {scan_n:,} entries in {scan_s:.2f} s = {scan_n / scan_s:,.0f} files/s "
              f"(last run: read {stats.read_seconds:.2f} s, parse + paths {stats.parse_seconds:.2f} s; "
              f"corrupt {stats.corrupt}, orphans {stats.orphans}, hidden {stats.hidden})")

        walk_root = "/dept00" if args.walk_subset else "/"
        walked: set[object] = set()

        def do_walk() -> int:
            walked.clear()
            walked.update(fs.walk(walk_root))
            return len(walked)

        walk_s, walk_n = _best(1, do_walk)
        what = "subset /dept00" if args.walk_subset else "whole volume"
        print(f"dissect walk ({what}): {walk_n:,} entries in {walk_s:.2f} s = {walk_n / walk_s:,.0f} files/s "
              f"-> scan is {(scan_n / scan_s) / (walk_n / walk_s):.1f}x")
        if args.walk_subset:
            prefix = walk_root + "/"
            same = walked == {e for e in scanned if e.path.startswith(prefix)}  # type: ignore[attr-defined]
        else:
            same = walked == scanned
        print(f"scan and walk list the same entries: {same}")
        if not same:
            return 1

    catalog = _fresh_catalog(work, vmdk, "direct")
    start = time.perf_counter()
    result = index_disk(catalog, POINT_ID, str(vmdk), "disk0")
    took = time.perf_counter() - start
    assert not result.errors, result.errors
    print(f"index_disk -> fresh SQLite catalog, in-process: {result.files:,} files in {took:.2f} s "
          f"= {result.files / took:,.0f} files/s")

    print(f"Qt loop stalls (a {TICK_MS} ms QTimer under qasync) while index_disk runs:")
    figures = []
    context = multiprocessing.get_context("spawn")  # never fork a process that holds a QApplication
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(_noop).result()  # start the worker before timing: startup is not a stall
        gaps, took, files = _stall_run("process", pool, _fresh_catalog(work, vmdk, "process"), vmdk)
        figures.append(("worker process", gaps, took, files))
    with ThreadPoolExecutor(max_workers=1) as threads:
        gaps, took, files = _stall_run("thread", threads, _fresh_catalog(work, vmdk, "thread"), vmdk)
        figures.append(("thread (contrast)", gaps, took, files))
    for label, gaps, took, files in figures:
        ordered = sorted(gaps)
        p99 = ordered[int(len(ordered) * 0.99) - 1] if ordered else 0.0
        print(f"  {label:18s}: worst gap {max(gaps):6.1f} ms, p99 {p99:6.1f} ms, median "
              f"{statistics.median(gaps):5.1f} ms over {len(gaps)} ticks; {files / took:,.0f} files/s end to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
