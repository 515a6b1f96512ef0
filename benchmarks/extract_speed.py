"""Extract a 1 GB file out of monolithicSparse and streamOptimized VMDKs, beside `cat` of the raw image.

Images are made by the disk bench with real tools (mke2fs -d, sfdisk, qemu-img convert). The file is
random (incompressible) data, so streamOptimized's deflate cost is real. Prints MB/s for each and the
ratio to reading the raw image with `cat` in the same run (page cache warm for all: each is read once
before timing). Goal: >= 80 % of raw.

Run: .venv/bin/python -m benchmarks.extract_speed [--mb 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec
from vmrestore.disks.extract import extract
from vmrestore.disks.filesystems import open_filesystem
from vmrestore.disks.image import open_vmdk


def _timed_cat(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    args = parser.parse_args()
    size = args.mb << 20
    payload = os.urandom(size)
    digest = hashlib.sha256(payload).hexdigest()
    spec = DiskSpec("gpt", [PartitionSpec("ext4", args.mb + 64, "data", {"big.bin": payload})])
    factory = DiskFactory()
    work = Path(tempfile.mkdtemp(prefix="extract-speed-"))
    t0 = time.perf_counter()
    raw = factory.raw(spec, work)
    print(f"raw image {raw.stat().st_size >> 20} MiB built in {time.perf_counter() - t0:.1f} s")
    _timed_cat(raw)
    cat_s = min(_timed_cat(raw) for _ in range(2))
    print(f"cat raw image: {raw.stat().st_size / cat_s / 1e6:8.0f} MB/s (whole image, warm)")
    cat_file_rate = size / cat_s  # the floor we compare with: same bytes per second as cat achieves
    for subformat in ("monolithicSparse", "streamOptimized"):
        vmdk = factory.vmdk(spec, subformat, work / subformat, "bench.vmdk")
        _timed_cat(vmdk)
        out = work / f"out-{subformat}"
        best = None
        for attempt in range(2):
            target = out / str(attempt)
            start = time.perf_counter()
            with open_vmdk(vmdk) as image:
                fs = open_filesystem(image, 1, what=str(vmdk))
                result = extract(fs, ["/big.bin"], target, "overwrite")
            took = time.perf_counter() - start
            best = took if best is None else min(best, took)
            assert result.bytes == size
        got = hashlib.sha256((out / "1" / "big.bin").read_bytes()).hexdigest()
        assert got == digest, "extracted bytes differ"
        rate = size / best
        print(f"extract from {subformat:17s}: {rate / 1e6:8.0f} MB/s = {rate / cat_file_rate * 100:5.1f} % of cat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
