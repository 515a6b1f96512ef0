"""Extract a 1 GiB file out of monolithicSparse and streamOptimized VMDKs, beside honest `cat` baselines.

Images are made by the disk bench with real tools (mke2fs -d; mkntfs + ntfs-3g; sfdisk; qemu-img convert),
one ext4 and one NTFS volume in a GPT disk. The file is random (incompressible) data, seeded, so the
images are cached between runs and streamOptimized's deflate cost is real.

Baselines, each in MB/s of the bytes `cat` reads:

- ``cat vmdk``: the VMDK file(s) themselves, which is what extraction has to read;
- ``cat raw``: a *fully allocated* raw image of the same disk (the bench's raw images are sparse, and
  reading holes costs nothing, which made the old baseline meaningless).

Extraction is timed through the product path (open_vmdk → open_filesystem → extract) with the direct
run reader, and again with it switched off (dissect's own streams) for comparison. Warm: everything read
once before timing, best of ``--repeat``. Cold (root only): ``sync; echo 3 > /proc/sys/vm/drop_caches``
before every timed run. Output goes to ``--out-dir`` (default a tmpfs when there is one), so the target
disk's write-back does not blur the read path being measured. For streamOptimized it also times plain
``zlib.decompress`` of every grain (data already in memory): the floor for that format. Goal: >= 80 %.

Run: .venv/bin/python -m benchmarks.extract_speed [--mb 1024] [--fs ext4,ntfs] [--no-cold]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec
from vmrestore.disks import extents
from vmrestore.disks import extract as extract_module
from vmrestore.disks.extract import extract
from vmrestore.disks.filesystems import open_filesystem
from vmrestore.disks.image import open_vmdk

SUBFORMATS = ("monolithicSparse", "vmfs", "streamOptimized")


def can_drop_caches() -> bool:
    return os.geteuid() == 0 and os.access("/proc/sys/vm/drop_caches", os.W_OK)


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as fh:
        fh.write("3\n")


CPU = {"last": 0.0}  # CPU seconds (all threads of this process) of the last timed run


def timed(action: Callable[[], None], cold: bool, repeat: int) -> float:
    """Seconds for ``action``: cold = caches dropped before one run; warm = best of ``repeat`` after a read.

    The CPU time of the same run goes to ``CPU["last"]``: on a shared, loaded machine the wall time
    measures the neighbours too, the CPU time (this process's threads, not ``cat``) does not.
    """
    if cold:
        drop_caches()
        start, cpu = time.perf_counter(), time.process_time()
        action()
        CPU["last"] = time.process_time() - cpu
        return time.perf_counter() - start
    action()
    best = float("inf")
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        action()
        took = time.perf_counter() - start
        if took < best:
            best, CPU["last"] = took, time.process_time() - cpu
    return best


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def cat(paths: list[Path]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(["cat", *map(str, paths)], stdout=subprocess.DEVNULL, check=True)

    return run


@contextmanager
def dissect_path_only() -> Iterator[None]:
    """Switch the direct run reader off: extraction then reads through dissect's streams."""
    saved = extract_module.direct_plan
    extract_module.direct_plan = lambda src: None
    try:
        yield
    finally:
        extract_module.direct_plan = saved


@contextmanager
def variant(label: str) -> Iterator[None]:
    """``direct``: the product path; ``1 thread``: grains inflated inline (as before the pool);
    ``dissect``: dissect's own streams."""
    if label == "dissect":
        with dissect_path_only():
            yield
        return
    saved = extents.INFLATE_WORKERS
    if label == "1 thread":
        extents.INFLATE_WORKERS = 1
    try:
        yield
    finally:
        extents.INFLATE_WORKERS = saved


def zlib_floor(vmdk: Path) -> tuple[int, float]:
    """(bytes inflated, seconds) for zlib.decompress of every grain of a streamOptimized extent."""
    data = vmdk.read_bytes()
    assert data[:4] == b"KDMV"
    flags, grain_sectors = struct.unpack_from("<IQ", data, 8)[0], struct.unpack_from("<Q", data, 20)[0]
    if struct.unpack_from("<q", data, 56)[0] == -1:  # directory offset in the footer
        header = data[-1024:-512]
        gd_sector, per_table = struct.unpack_from("<Q", header, 56)[0], struct.unpack_from("<I", header, 44)[0]
        capacity = struct.unpack_from("<Q", header, 12)[0]
    else:
        gd_sector, per_table = struct.unpack_from("<Q", data, 56)[0], struct.unpack_from("<I", data, 44)[0]
        capacity = struct.unpack_from("<Q", data, 12)[0]
    tables = -(-capacity // (grain_sectors * per_table))
    head = 12 if flags & 0x20000 else 4
    pieces = []
    for gt in struct.unpack_from(f"<{tables}I", data, gd_sector * 512):
        if not gt:
            continue
        for sector in struct.unpack_from(f"<{per_table}I", data, gt * 512):
            if sector > 1:
                at = sector * 512
                (size,) = struct.unpack_from("<I", data, at + head - 4)
                pieces.append(memoryview(data)[at + head : at + head + size])
    grain = grain_sectors * 512
    start = time.perf_counter()
    total = sum(len(zlib.decompress(p, 15, grain)) for p in pieces)
    return total, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--fs", default="ext4,ntfs")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--no-dissect-path", action="store_true", help="skip the slow-path comparison")
    parser.add_argument("--out-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    size = args.mb << 20
    rng = random.Random(20240601)  # incompressible, and the same every run, so the images stay cached
    payload = b"".join(rng.randbytes(min(1 << 26, size - at)) for at in range(0, size, 1 << 26))
    digest = hashlib.sha256(payload).hexdigest()
    modes = ["warm"] + (["cold"] if not args.no_cold and can_drop_caches() else [])
    if not args.no_cold and "cold" not in modes:
        print("cold figures skipped: dropping the page cache needs root")
    factory = DiskFactory()
    work = Path(tempfile.mkdtemp(prefix="extract-speed-"))
    out_root = Path(tempfile.mkdtemp(prefix="extract-speed-out-", dir=args.out_dir))
    print(f"file: {size >> 20} MiB random; extraction writes to {out_root}; modes: {', '.join(modes)}; {load()}")
    rows: list[str] = []
    table: dict[tuple[str, str, str], tuple[float, float]] = {}  # (fs, format, mode) -> (MB/s, CPU s/GiB)
    try:
        for fs_kind in args.fs.split(","):
            part = PartitionSpec(fs_kind, args.mb + 128, "data", {"big.bin": payload})  # type: ignore[arg-type]
            spec = DiskSpec("gpt", [part])
            t0 = time.perf_counter()
            sparse_raw = factory.raw(spec, work / fs_kind)
            full_raw = work / fs_kind / "full.raw"
            subprocess.run(["cp", "--sparse=never", str(sparse_raw), str(full_raw)], check=True)
            sparse_raw.unlink()
            image_bytes = full_raw.stat().st_size
            vmdks = {sub: factory.vmdk(spec, sub, work / fs_kind / sub, "bench.vmdk") for sub in SUBFORMATS}
            print(f"\n== {fs_kind}: raw image {image_bytes >> 20} MiB, VMDKs ready in {time.perf_counter() - t0:.1f} s")
            for mode in modes:
                cold = mode == "cold"
                took = timed(cat([full_raw]), cold, args.repeat)
                raw_rate = image_bytes / took
                table[(fs_kind, "cat raw (floor)", mode)] = (raw_rate / 1e6, float("nan"))
                print(f"  [{mode}] cat raw (fully allocated) : {raw_rate / 1e6:8.0f} MB/s")
                for subformat, vmdk in vmdks.items():
                    files = sorted(vmdk.parent.glob("bench*.vmdk"))
                    vmdk_bytes = sum(f.stat().st_size for f in files)
                    took = timed(cat(files), cold, args.repeat)
                    vmdk_rate = vmdk_bytes / took
                    print(f"  [{mode}] cat {subformat:16s}  : {vmdk_rate / 1e6:8.0f} MB/s ({vmdk_bytes >> 20} MiB)")
                    paths = ["direct"] + (["1 thread"] if subformat == "streamOptimized" else [])
                    paths += [] if args.no_dissect_path else ["dissect"]
                    for label in paths:
                        target = out_root / f"{fs_kind}-{subformat}-{mode}-{label}"

                        def run(target: Path = target, vmdk: Path = vmdk, label: str = label) -> None:
                            shutil.rmtree(target, ignore_errors=True)
                            with open_vmdk(vmdk) as image, variant(label):
                                fs = open_filesystem(image, 1, what=str(vmdk))
                                result = extract(fs, ["/big.bin"], target, "overwrite")
                            assert result.bytes == size and not result.skipped, result

                        took = timed(run, cold, args.repeat)
                        got = hashlib.sha256((target / "big.bin").read_bytes()).hexdigest()
                        assert got == digest, "extracted bytes differ"
                        shutil.rmtree(target)
                        rate = size / took
                        cpu_per_gib = CPU["last"] / (size / 2**30)
                        if label == "direct":
                            table[(fs_kind, subformat, mode)] = (rate / 1e6, cpu_per_gib)
                        line = (
                            f"  [{mode}] extract {subformat:16s} {label:7s}: {rate / 1e6:8.0f} MB/s = "
                            f"{rate / vmdk_rate * 100:5.1f} % of cat vmdk, {rate / raw_rate * 100:5.1f} % of cat raw"
                            f"; CPU {cpu_per_gib:.2f} s/GiB"
                        )
                        print(line)
                        rows.append(f"{fs_kind:5s} {line.strip()}")
                    if subformat == "streamOptimized" and mode == "warm":
                        inflated, secs = zlib_floor(vmdk)
                        line = f"  [{mode}] zlib.decompress of all grains (floor): {inflated / secs / 1e6:8.0f} MB/s"
                        print(line)
                        rows.append(f"{fs_kind:5s} {line.strip()}")
            shutil.rmtree(work / fs_kind)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(out_root, ignore_errors=True)
    print("\nsummary\n" + "\n".join(rows))
    print_table(table, args.fs.split(","), modes)
    print(load())
    return 0


def print_table(
    table: dict[tuple[str, str, str], tuple[float, float]], kinds: list[str], modes: list[str]
) -> None:
    """Each format x file system beside the raw-read floor of the same run (MB/s, % of floor, CPU s/GiB)."""
    for mode in modes:
        print(f"\n[{mode}] extraction of the file, MB/s (% of cat raw of the same image), CPU s/GiB")
        print(f"  {'format':18s}" + "".join(f"{kind:>30s}" for kind in kinds))
        for fmt in ("cat raw (floor)", *SUBFORMATS):
            cells = []
            for kind in kinds:
                got = table.get((kind, fmt, mode))
                floor = table.get((kind, "cat raw (floor)", mode))
                if got is None or floor is None:
                    cells.append(f"{'-':>30s}")
                elif fmt.startswith("cat"):
                    cells.append(f"{got[0]:>10.0f}{'':20s}")
                else:
                    cells.append(f"{got[0]:>10.0f} ({got[0] / floor[0] * 100:5.1f} %) {got[1]:6.2f} s/GiB")
            print(f"  {fmt:18s}" + "".join(cells))


if __name__ == "__main__":
    sys.exit(main())
