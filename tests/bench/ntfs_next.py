"""The next restore point of the same NTFS volume: yesterday's image, mounted with ntfs-3g and changed.

Two volumes built from scratch by the disk bench share no FILE record byte for byte (ntfs-3g stamps the
change and access times of every record it writes, and the records land wherever it allocates them). A
VM's consecutive backups are not like that: NTFS rewrites only the records of the files that changed. So a
later point is made the way the VM made it: a copy of the earlier point's partition, mounted read-write
with ntfs-3g (FUSE), ``edit`` run on the mount point (write, rename, move, delete files...), unmounted.
Cached like every bench image, by the base spec's key and ``key`` (name the edit: it is not hashed);
``after`` names an earlier edit whose result is changed instead of the spec's own image (a third point).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench.diskfactory import DiskFactory, DiskSpec, _copy, _run, fuse_available, spec_key, to_vmdk
from tests.bench.tools import missing, require_tool

_MIB = 1024 * 1024


def next_point_vmdk(factory: DiskFactory, base: DiskSpec, edit: Callable[[Path], None], key: str,
                    dest_dir: str | os.PathLike[str], name: str = "disk.vmdk", after: str | None = None) -> Path:
    """A monolithicSparse VMDK of ``base`` (a GPT disk whose first partition is NTFS) after ``edit`` (after
    the earlier edit named ``after``, which must have been made first)."""
    if base.table != "gpt" or base.partitions[0].fs != "ntfs":
        raise ValueError("next_point_vmdk changes the NTFS first partition of a GPT disk")
    cached = factory.cache / f"{spec_key(base)}-next-{key}-monolithicSparse"
    if not cached.exists():
        start = None
        if after is not None:
            start = factory.cache / f"{spec_key(base)}-next-{after}.raw"
            if not start.exists():
                raise FileNotFoundError(f"make the point {after!r} before the one after it")
        _build(factory, base, edit, cached, start)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    _copy(cached / "disk.vmdk", dest / name)
    return dest / name


def _build(factory: DiskFactory, base: DiskSpec, edit: Callable[[Path], None], out: Path, start: Path | None) -> None:
    ntfs3g = require_tool("ntfs-3g", "ntfs-3g")
    if not fuse_available():
        missing("the next NTFS point is changed through ntfs-3g FUSE, and /dev/fuse is not usable here")
    work = Path(tempfile.mkdtemp(dir=factory.cache, prefix=".next-"))
    if start is None:
        base_raw = factory.raw(base, work)
    else:
        base_raw = work / "disk.raw"
        _copy(start, base_raw)
    try:
        size = base.partitions[0].effective_size_mb() * _MIB
        part = work / "part.img"
        _run(["dd", f"if={base_raw}", f"of={part}", "bs=1M", "skip=1", f"count={size // _MIB}", "conv=sparse"])
        mnt = work / "mnt"
        mnt.mkdir()
        proc = subprocess.Popen([ntfs3g, "-o", "no_detach", str(part), str(mnt)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 15
            while not os.path.ismount(mnt):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"ntfs-3g did not mount {part}: {err}")
                time.sleep(0.02)
            edit(mnt)
        finally:
            if os.path.ismount(mnt):
                _run(["fusermount", "-u", str(mnt)])
            proc.wait(timeout=120)
        _run(["dd", f"if={part}", f"of={base_raw}", "bs=1M", "seek=1", "conv=notrunc,sparse"])
        kept = Path(str(out).removesuffix("-monolithicSparse") + ".raw")  # for a point after this one
        _copy(base_raw, kept)
        tmp = Path(tempfile.mkdtemp(dir=factory.cache, prefix=".vmdk-"))
        to_vmdk(base_raw, "monolithicSparse", tmp / "disk.vmdk")
        try:
            os.rename(tmp, out)
        except OSError:  # somebody else finished first
            shutil.rmtree(tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
