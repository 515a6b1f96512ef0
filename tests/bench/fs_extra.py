"""exFAT and LVM2 volumes for the disk bench, made by their own tools (used by diskfactory).

exFAT: ``mkfs.exfat`` formats the partition image; the files go in through the exfat-fuse driver, which as
root insists on a block device, so the image is attached to a loop device first. The driver runs in the
foreground (``-d``, its debug output discarded) so that its exit proves everything reached the image.

LVM2: ``pvcreate``/``vgcreate``/``lvcreate`` on a loop device over the partition image. Device-mapper is
usually absent in containers, so LVs are created without activation (``--driverloaded n -an -Zn -Wn``);
the file system of each LV is then made by its own tool in a separate image and written to the LV's
physical extents, as ``lvs -o seg_pe_ranges`` and ``pvs -o pe_start`` report them. lvm2 runs with its
own ``lvm.conf`` (``LVM_SYSTEM_DIR``) that accepts only our loop device and writes no backups or archives,
so the host's volume groups are neither seen nor touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.bench.tools import missing, require_tool

if TYPE_CHECKING:
    from tests.bench.diskfactory import PartitionSpec

MIB = 1024 * 1024


@dataclass
class LogicalVolumeSpec:
    """One LV of an ``lvm`` partition: its content (a file-system partition spec; its size is the LV's).

    ``grow_mb`` > 0 creates the LV that much smaller and extends it after every LV exists, so it ends up
    with two segments in different places of the PV (what ``lvextend`` does to real volumes).
    """

    name: str
    fs: PartitionSpec
    grow_mb: int = 0


def _need_root(what: str) -> None:
    if os.geteuid() == 0 and os.path.exists("/dev/loop-control"):
        return
    message = f"{what} needs root and loop devices (/dev/loop-control)"
    missing(message)


@contextlib.contextmanager
def loop_device(img: Path) -> Iterator[str]:
    losetup = require_tool("losetup", "mount")
    dev = subprocess.run([losetup, "-f", "--show", str(img)], capture_output=True, check=True, text=True).stdout
    dev = dev.strip()
    try:
        yield dev
    finally:
        subprocess.run([losetup, "-d", dev], capture_output=True, check=False)


# ----------------------------------------------------------------------------------------------- exFAT


def build_exfat(img: Path, part: PartitionSpec) -> None:
    from tests.bench.diskfactory import _populate_dir, _run, expected_tree, fuse_available, mtime_of

    require_tool("mkfs.exfat", "exfatprogs")
    mount = require_tool("mount.exfat-fuse", "exfat-fuse")
    _run(["mkfs.exfat", *(["-L", part.label] if part.label else []), str(img)])
    if not part.files:
        return
    _need_root("populating exFAT through exfat-fuse")
    if not fuse_available():
        message = "exFAT volumes are populated through exfat-fuse, and /dev/fuse is not usable here"
        missing(message)
    with tempfile.TemporaryDirectory(prefix="exfat-") as tmp, loop_device(img) as dev:
        src, mnt = Path(tmp, "src"), Path(tmp, "mnt")
        src.mkdir()
        mnt.mkdir()
        _populate_dir(src, part)
        # A zone with a half-hour UTC offset: the driver stores local time plus the offset, the reader must undo it.
        env = {**os.environ, "TZ": "Asia/Kolkata"}
        proc = subprocess.Popen(
            [mount, "-d", dev, str(mnt)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        try:
            deadline = time.monotonic() + 15
            while not os.path.ismount(mnt):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"exfat-fuse did not mount {img} ({dev})")
                time.sleep(0.02)
            _run(["cp", "-r", "--preserve=timestamps", f"{src}/.", str(mnt)])
            for path in sorted(expected_tree(part), key=lambda p: p.count("/"), reverse=True):
                stamp = mtime_of(part, path).timestamp()
                os.utime(mnt / path.lstrip("/"), (stamp, stamp))
        finally:
            if os.path.ismount(mnt):
                _run(["fusermount", "-u", str(mnt)])
            proc.wait(timeout=30)


# ------------------------------------------------------------------------------------------------ LVM2


def _lvm(conf_dir: Path, *args: str) -> str:
    from tests.bench.diskfactory import _run

    env_args = ["env", f"LVM_SYSTEM_DIR={conf_dir}", "LVM_SUPPRESS_FD_WARNINGS=1"]
    return _run([*env_args, *args]).stdout.decode()


def build_lvm(
    img: Path, part: PartitionSpec, lvs: list[LogicalVolumeSpec], build_fs: Callable[[Path, PartitionSpec], None]
) -> None:
    """A PV over the whole partition image, VG ``part.label`` (1 MiB extents), then the LVs and their file systems."""
    require_tool("pvcreate", "lvm2")
    _need_root("building LVM2 volumes")
    vg = part.label or "vgdata"
    with tempfile.TemporaryDirectory(prefix="lvm-") as tmp:
        conf = Path(tmp, "etc")
        conf.mkdir()
        with loop_device(img) as dev:
            (conf / "lvm.conf").write_text(
                "devices {\n  use_devicesfile = 0\n  obtain_device_list_from_udev = 0\n"
                f'  filter = [ "a|^{dev}$|", "r|.*|" ]\n}}\n'
                "backup {\n  backup = 0\n  archive = 0\n}\n"
            )
            _lvm(conf, "pvcreate", "-y", "-ff", dev)
            _lvm(conf, "vgcreate", "-s", "1m", vg, dev)
            no_dm = ["--driverloaded", "n"]
            for lv in lvs:
                size = lv.fs.effective_size_mb() - lv.grow_mb
                _lvm(conf, "lvcreate", *no_dm, "-an", "-Zn", "-Wn", "-y", "-L", f"{size}m", "-n", lv.name, vg)
            for lv in lvs:
                if lv.grow_mb:
                    _lvm(conf, "lvextend", *no_dm, "-L", f"+{lv.grow_mb}m", f"{vg}/{lv.name}")
            report = json.loads(
                _lvm(conf, "lvs", "--reportformat", "json", "-o", "lv_name,seg_start_pe,seg_pe_ranges", vg)
            )
            pe_start = int(_lvm(conf, "pvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "pe_start", dev))
            extent = int(
                _lvm(conf, "vgs", "--noheadings", "--units", "b", "--nosuffix", "-o", "vg_extent_size", vg)
            )
        # The PV is detached: write each LV's file system to its extents, segment by segment.
        segments: dict[str, list[tuple[int, int, int]]] = {}  # lv → (first LE, first PE, PE count)
        for row in report["report"][0]["lv"]:
            _dev, ranges = row["seg_pe_ranges"].rsplit(":", 1)
            first, last = (int(n) for n in ranges.split("-"))
            segments.setdefault(row["lv_name"], []).append((int(row["seg_start_pe"]), first, last - first + 1))
        for lv in lvs:
            fs_img = Path(tmp, f"{lv.name}.img")
            with open(fs_img, "wb") as fh:
                fh.truncate(lv.fs.effective_size_mb() * MIB)
            build_fs(fs_img, lv.fs)
            with open(fs_img, "rb") as src, open(img, "r+b") as dst:
                for le, pe, count in segments[lv.name]:
                    src.seek(le * extent)
                    dst.seek(pe_start + pe * extent)
                    for _ in range(count * extent // MIB):
                        block = src.read(MIB)
                        if block.count(0) == len(block):
                            dst.seek(len(block), os.SEEK_CUR)  # keep the image sparse
                        else:
                            dst.write(block)


# ------------------------------------------------------------------------------------------------ LUKS


def build_luks(img: Path, part: PartitionSpec) -> None:
    """A LUKS2 header made by cryptsetup on the partition image (no device-mapper needed to format)."""
    from tests.bench.diskfactory import _run

    require_tool("cryptsetup", "cryptsetup-bin")
    with tempfile.TemporaryDirectory(prefix="luks-") as tmp:
        key = Path(tmp, "key")
        key.write_bytes(b"bench passphrase, never a secret")
        _run(
            [
                "cryptsetup",
                "luksFormat",
                "-q",
                "--type",
                "luks2",
                "--pbkdf",
                "pbkdf2",
                "--pbkdf-force-iterations",
                "1000",
                "--key-file",
                str(key),
                str(img),
            ]
        )
