"""Build real disk images (raw and VMDK) and ghettoVCB repositories from a declarative description.

Every file system is made by its own tool (mkntfs + ntfs-3g, mke2fs -d, mkfs.vfat + mcopy, mkfs.xfs -p),
partitioned with sfdisk and converted with qemu-img, so the adapter under test meets the bytes that real
tools write, never bytes we invented. Builds are cached under ``tools.CACHE_DIR`` by a hash of the
description; callers always get a private (sparse) copy, so a test that truncates or scribbles over its
image can never poison the cache.

NTFS directories: ``ntfscp`` cannot create directories, so NTFS volumes are populated through the ntfs-3g
FUSE driver (run in the foreground with ``-o no_detach`` so we know exactly when it has flushed and exited).
That needs ``/dev/fuse`` and root (or fuse permissions); without them NTFS tests are skipped locally and fail
in CI, like any other missing tool.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from tests.bench.fs_extra import LogicalVolumeSpec, build_exfat, build_luks, build_lvm
from tests.bench.tools import CACHE_DIR, missing, require_tool

FsKind = Literal["ntfs", "ext4", "fat32", "xfs", "raw", "exfat", "lvm", "luks"]
TableKind = Literal["gpt", "mbr", "none"]
SUBFORMATS = ("monolithicSparse", "monolithicFlat", "streamOptimized", "twoGbMaxExtentSparse", "vmfs")
# ESXi's own layout as ghettoVCB leaves it (``vmkfstools -i``): a text descriptor with createType="vmfs"
# beside a raw, sparse ``-flat.vmdk``. qemu-img cannot write it; ``to_vmfs_flat`` lays it out.
ESXI_SUBFORMATS = ("vmfs",)

# Files without an explicit mtime get this one, so builds are reproducible and tests can assert mtimes.
DEFAULT_MTIME = datetime(2024, 3, 4, 5, 6, 8, tzinfo=UTC)  # even seconds: FAT keeps 2 s resolution

# Bump when the build recipe changes so stale cache entries are not reused.
_RECIPE_VERSION = "4"

_GPT_TYPES = {
    "ntfs": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",  # Microsoft basic data
    "fat32": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
    "ext4": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",  # Linux file system data
    "xfs": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
    "raw": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
}
_MBR_TYPES = {"ntfs": "7", "fat32": "c", "ext4": "83", "xfs": "83", "raw": "da"}
_MIN_SIZE_MB = {"ntfs": 2, "ext4": 2, "fat32": 34, "xfs": 300, "raw": 1}
# tests/bench/fs_extra.py: exFAT (Microsoft basic data), LVM2 PV (lvs=[LogicalVolumeSpec...]), LUKS2
_GPT_TYPES.update(exfat=_GPT_TYPES["ntfs"], lvm="E6D6D379-F507-44C2-A23C-238F2A3DF928", luks=_GPT_TYPES["raw"])
_MBR_TYPES.update(exfat="7", lvm="8e", luks="83")
_MIN_SIZE_MB.update(exfat=3, lvm=4, luks=17)


@dataclass(frozen=True)
class Symlink:
    """A symbolic link (ext4/xfs only); the target is stored verbatim and never resolved."""

    target: str


FileValue = bytes | str | Symlink | None


@dataclass
class PartitionSpec:
    """One volume. ``files`` maps volume paths ("Users/alice/a.txt") to content; None = empty directory."""

    fs: FsKind
    size_mb: int = 0  # 0: the smallest size the tool accepts (FAT32 needs 34 MB, XFS 300 MB, sparse anyway)
    label: str = ""
    files: Mapping[str, FileValue] = field(default_factory=dict)
    mtimes: Mapping[str, datetime] = field(default_factory=dict)  # per path; others get DEFAULT_MTIME
    lvs: list[LogicalVolumeSpec] = field(default_factory=list)  # fs="lvm" only: the VG (label) holds these

    def effective_size_mb(self) -> int:
        return max(self.size_mb, _MIN_SIZE_MB[self.fs])


@dataclass
class DiskSpec:
    table: TableKind
    partitions: list[PartitionSpec]


@dataclass
class PointSpec:
    """One ghettoVCB restore point of a VM."""

    created: datetime
    disks: list[DiskSpec]
    status: Literal["ok", "error", "warn"] | None = "ok"  # None: no STATUS file (backup still running)
    subformat: str = "monolithicSparse"
    compressed: bool = False  # ghettoVCB ENABLE_COMPRESSION: the folder becomes "<folder>.gz" (tar + gzip)


@dataclass
class BuiltPoint:
    vm: str
    folder: Path  # the restore-point directory (or the .gz file when compressed)
    created: datetime
    status: str | None
    compressed: bool
    disk_files: list[str]  # descriptor names relative to the folder
    spec: PointSpec


# --------------------------------------------------------------------------------------------------- helpers


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    # TZ: mtools stores local time; LC_ALL: mtools encodes long names per the locale's charset.
    env = {**os.environ, "TZ": "UTC", "MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(args, capture_output=True, env=env, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}"
        )
    return proc


def _canonical(spec: DiskSpec) -> str:
    def value(v: FileValue) -> object:
        if v is None:
            return None
        if isinstance(v, Symlink):
            return {"symlink": v.target}
        data = v.encode() if isinstance(v, str) else v
        return {"sha256": hashlib.sha256(data).hexdigest(), "len": len(data)}

    desc = {
        "v": _RECIPE_VERSION,
        "table": spec.table,
        "parts": [
            {
                "fs": p.fs,
                "size": p.effective_size_mb(),
                "label": p.label,
                "files": {k: value(v) for k, v in sorted(p.files.items())},
                "mtimes": {k: t.timestamp() for k, t in sorted(p.mtimes.items())},
                **({"lvs": [[v.name, v.grow_mb, _canonical(DiskSpec("none", [v.fs]))] for v in p.lvs]}
                   if p.lvs else {}),
            }
            for p in spec.partitions
        ],
    }
    return json.dumps(desc, sort_keys=True)


def spec_key(spec: DiskSpec) -> str:
    """Cache key of a disk description."""
    return hashlib.sha256(_canonical(spec).encode()).hexdigest()[:24]


def expected_tree(part: PartitionSpec) -> dict[str, FileValue]:
    """Every path the volume must show ('/'-prefixed), including implied parent directories."""
    tree: dict[str, FileValue] = {}
    for raw_path, value in part.files.items():
        parts = [p for p in raw_path.split("/") if p]
        for i in range(1, len(parts)):
            tree.setdefault("/" + "/".join(parts[:i]), None)
        tree["/" + "/".join(parts)] = value.encode() if isinstance(value, str) else value
    return tree


def mtime_of(part: PartitionSpec, path: str) -> datetime:
    return part.mtimes.get(path.lstrip("/"), DEFAULT_MTIME)


def _populate_dir(root: Path, part: PartitionSpec) -> None:
    """Write the spec's files into a directory, then stamp mtimes bottom-up (children change dir mtimes)."""
    tree = expected_tree(part)
    for path, value in sorted(tree.items()):
        target = root / path.lstrip("/")
        if value is None:
            target.mkdir(parents=True, exist_ok=True)
        elif isinstance(value, Symlink):
            if part.fs not in ("ext4", "xfs"):
                raise ValueError(f"{part.fs} cannot hold symlinks ({path})")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(value.target, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(value)
    for path in sorted(tree, key=lambda p: p.count("/"), reverse=True):
        stamp = mtime_of(part, path).timestamp()
        os.utime(root / path.lstrip("/"), (stamp, stamp), follow_symlinks=False)


def fuse_available() -> bool:
    return os.path.exists("/dev/fuse") and os.access("/dev/fuse", os.R_OK | os.W_OK)


# ----------------------------------------------------------------------------------------- file systems


def _build_ntfs(img: Path, part: PartitionSpec, start_sector: int) -> None:
    require_tool("mkntfs", "ntfs-3g")
    ntfs3g = require_tool("ntfs-3g", "ntfs-3g")
    # -p/-H/-S: the boot sector's hidden sectors and geometry must match the partition, as Windows expects.
    _run(
        [
            "mkntfs",
            "-F",
            "-q",
            "-f",
            "-L",
            part.label,
            "-p",
            str(start_sector),
            "-H",
            "255",
            "-S",
            "63",
            str(img),
        ]
    )
    if not part.files:
        return
    if not fuse_available():
        message = "NTFS volumes are populated through ntfs-3g FUSE, and /dev/fuse is not usable here"
        missing(message)
    with tempfile.TemporaryDirectory(prefix="ntfs-") as tmp:
        src, mnt = Path(tmp, "src"), Path(tmp, "mnt")
        src.mkdir()
        mnt.mkdir()
        _populate_dir(src, part)
        # Foreground driver: when it exits after the unmount, everything is on the image.
        proc = subprocess.Popen(
            [ntfs3g, "-o", "no_detach", str(img), str(mnt)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 15
            while not os.path.ismount(mnt):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"ntfs-3g did not mount {img}: {err}")
                time.sleep(0.02)
            _run(["cp", "-a", "--no-preserve=ownership", f"{src}/.", str(mnt)])
            # cp -a sets directory mtimes before it is done with later siblings on some trees: stamp again.
            for path in sorted(expected_tree(part), key=lambda p: p.count("/"), reverse=True):
                stamp = mtime_of(part, path).timestamp()
                os.utime(mnt / path.lstrip("/"), (stamp, stamp))
        finally:
            if os.path.ismount(mnt):
                _run(["fusermount", "-u", str(mnt)])
            proc.wait(timeout=30)


def _build_ext4(img: Path, part: PartitionSpec) -> None:
    require_tool("mke2fs", "e2fsprogs")
    with tempfile.TemporaryDirectory(prefix="ext4-") as tmp:
        _populate_dir(Path(tmp), part)
        stamp = DEFAULT_MTIME.timestamp()
        os.utime(tmp, (stamp, stamp))
        _run(
            [
                "mke2fs",
                "-q",
                "-F",
                "-t",
                "ext4",
                "-L",
                part.label,
                "-E",
                "root_owner=0:0",
                "-d",
                tmp,
                str(img),
            ]
        )


def _build_fat32(img: Path, part: PartitionSpec, start_sector: int) -> None:
    require_tool("mkfs.vfat", "dosfstools")
    require_tool("mcopy", "mtools")
    label = part.label or "NO NAME"
    _run(["mkfs.vfat", "-F", "32", "-s", "1", "-S", "512", "-n", label, "-h", str(start_sector), str(img)])
    if not part.files:
        return
    with tempfile.TemporaryDirectory(prefix="fat-") as tmp:
        _populate_dir(Path(tmp), part)
        entries = sorted(os.listdir(tmp))
        _run(["mcopy", "-s", "-m", "-Q", "-i", str(img), *[os.path.join(tmp, e) for e in entries], "::/"])


def _build_xfs(img: Path, part: PartitionSpec) -> None:
    require_tool("mkfs.xfs", "xfsprogs")
    with tempfile.TemporaryDirectory(prefix="xfs-") as tmp:
        src = Path(tmp, "src")
        src.mkdir()
        _populate_dir(src, part)
        # A protofile (xfsprogs' own format) populates the file system without mounting it.
        lines = ["/dev/null", "0 0", "d--755 0 0"]

        def emit(directory: Path, depth: int) -> None:
            for child in sorted(directory.iterdir()):
                pad = " " * depth
                if child.is_symlink():
                    lines.append(f"{pad}{child.name} l--777 0 0 {os.readlink(child)}")
                elif child.is_dir():
                    lines.append(f"{pad}{child.name} d--755 0 0")
                    emit(child, depth + 1)
                    lines.append(f"{pad}$")
                else:
                    lines.append(f"{pad}{child.name} ---644 0 0 {child}")

        emit(src, 1)
        lines.append("$")
        proto = Path(tmp, "proto")
        proto.write_text("\n".join(lines) + "\n")
        label = ["-L", part.label] if part.label else []
        # xfsprogs refuses < 300 MB outside fstests; the image is sparse, so the size costs nothing.
        _run(["mkfs.xfs", "-q", "-f", *label, "-p", str(proto), str(img)])


# ------------------------------------------------------------------------------------------------ factory


class DiskFactory:
    """Builds (and caches) raw disks and VMDKs; hands out private copies under ``dest`` directories."""

    def __init__(self, cache_dir: str | os.PathLike[str] = CACHE_DIR) -> None:
        self.cache = Path(cache_dir, "disks")
        self.cache.mkdir(parents=True, exist_ok=True)

    # -- raw ---------------------------------------------------------------------------------------
    def _cached_raw(self, spec: DiskSpec) -> Path:
        out = self.cache / f"{spec_key(spec)}.raw"
        if out.exists():
            return out
        with tempfile.TemporaryDirectory(dir=self.cache, prefix=".build-") as tmp:
            raw = Path(tmp, "disk.raw")
            self._build_raw(spec, raw, Path(tmp))
            os.replace(raw, out)  # atomic: a concurrent builder just produces the same bytes
        return out

    def _build_raw(self, spec: DiskSpec, raw: Path, tmp: Path) -> None:
        require_tool("sfdisk", "fdisk")
        if spec.table == "none" and len(spec.partitions) != 1:
            raise ValueError("an unpartitioned disk holds exactly one volume")
        if spec.table == "mbr" and len(spec.partitions) > 4:
            raise ValueError("the bench makes primary MBR partitions only (at most 4)")
        mib = 1024 * 1024
        start = 0 if spec.table == "none" else mib
        layout: list[tuple[PartitionSpec, int, int]] = []
        for part in spec.partitions:
            size = part.effective_size_mb() * mib
            layout.append((part, start, size))
            start += size
        total = start + (mib if spec.table == "gpt" else 0)  # room for the backup GPT
        with open(raw, "wb") as fh:
            fh.truncate(total)
        if spec.table != "none":
            lines = ["label: " + ("gpt" if spec.table == "gpt" else "dos"), "unit: sectors", ""]
            for part, offset, size in layout:
                types = _GPT_TYPES if spec.table == "gpt" else _MBR_TYPES
                line = f"start={offset // 512}, size={size // 512}, type={types[part.fs]}"
                if spec.table == "gpt" and part.label:
                    line += f', name="{part.label}"'
                lines.append(line)
            _run(
                ["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(raw)],
                input="\n".join(lines).encode(),
            )
        for i, (part, offset, size) in enumerate(layout):
            if part.fs == "raw":
                if part.files:
                    raise ValueError("a raw partition holds no files")
                continue
            img = tmp / f"part{i}.img"
            with open(img, "wb") as fh:
                fh.truncate(size)
            if part.fs == "ntfs":
                _build_ntfs(img, part, offset // 512)
            elif part.fs == "ext4":
                _build_ext4(img, part)
            elif part.fs == "fat32":
                _build_fat32(img, part, offset // 512)
            elif part.fs == "xfs":
                _build_xfs(img, part)
            elif part.fs == "exfat":
                build_exfat(img, part)
            elif part.fs == "lvm":
                build_lvm(img, part, part.lvs, lambda i, p: {"ext4": _build_ext4, "exfat": build_exfat}[p.fs](i, p))
            elif part.fs == "luks":
                build_luks(img, part)
            else:
                raise ValueError(f"unknown file system {part.fs!r}")
            _run(["dd", f"if={img}", f"of={raw}", "bs=1M", f"seek={offset // mib}", "conv=notrunc,sparse"])
            img.unlink()

    def raw(self, spec: DiskSpec, dest_dir: str | os.PathLike[str], name: str = "disk.raw") -> Path:
        """A private sparse copy of the raw disk image."""
        out = Path(dest_dir, name)
        out.parent.mkdir(parents=True, exist_ok=True)
        _copy(self._cached_raw(spec), out)
        return out

    # -- vmdk --------------------------------------------------------------------------------------
    def _cached_vmdk_dir(self, spec: DiskSpec, subformat: str) -> Path:
        if subformat not in SUBFORMATS:
            raise ValueError(f"unknown VMDK subformat {subformat!r}")
        out = self.cache / f"{spec_key(spec)}-{subformat}"
        if out.exists():
            return out
        raw = self._cached_raw(spec)
        tmp = Path(tempfile.mkdtemp(dir=self.cache, prefix=".vmdk-"))
        try:
            if subformat == "vmfs":
                to_vmfs_flat(raw, tmp / "disk.vmdk")
            else:
                to_vmdk(raw, subformat, tmp / "disk.vmdk")
            try:
                os.rename(tmp, out)
            except OSError:  # somebody else finished first
                shutil.rmtree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out

    def vmdk(
        self, spec: DiskSpec, subformat: str, dest_dir: str | os.PathLike[str], name: str = "disk.vmdk"
    ) -> Path:
        """A private copy of the disk as a VMDK named ``name`` (extent files renamed to match)."""
        src = self._cached_vmdk_dir(spec, subformat)
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        stem = name[:-5] if name.endswith(".vmdk") else name
        for f in sorted(src.iterdir()):
            target = dest / f.name.replace("disk", stem, 1)
            if f.name == "disk.vmdk" and subformat in ("monolithicFlat", "twoGbMaxExtentSparse", "vmfs"):
                text = f.read_text()
                target.write_text(text.replace('"disk-', f'"{stem}-'))
            else:
                _copy(f, target)
        return dest / name


def to_vmdk(raw: str | os.PathLike[str], subformat: str, out: str | os.PathLike[str]) -> Path:
    """Convert with qemu-img; multi-file subformats leave their extents next to ``out``."""
    require_tool("qemu-img", "qemu-utils")
    _run(
        [
            "qemu-img",
            "convert",
            "-q",
            "-f",
            "raw",
            "-O",
            "vmdk",
            "-o",
            f"subformat={subformat},adapter_type=lsilogic",
            str(raw),
            str(out),
        ]
    )
    return Path(out)


_VMFS_DESCRIPTOR = """# Disk DescriptorFile
version=1
encoding="UTF-8"
CID={cid}
parentCID=ffffffff
createType="vmfs"

# Extent description
RW {sectors} VMFS "{flat}"

# The Disk Data Base
#DDB

ddb.adapterType = "lsilogic"
ddb.geometry.cylinders = "{cylinders}"
ddb.geometry.heads = "255"
ddb.geometry.sectors = "63"
ddb.longContentID = "{long_cid}"
ddb.thinProvisioned = "1"
ddb.uuid = "{uuid}"
ddb.virtualHWVersion = "13"
"""


def to_vmfs_flat(raw: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Lay out ``raw`` as ESXi's ``vmfs`` disk (what ``vmkfstools -i ... -d thin`` writes).

    The ``-flat.vmdk`` is a sparse copy of the raw image (thin: holes stay holes); the descriptor is
    written here with the fields ESXi reads (CID, parentCID, extent, adapter type, geometry, uuid).
    """
    out = Path(out)
    flat = out.with_name(out.name[:-5] + "-flat.vmdk")
    _copy(Path(raw), flat)
    size = flat.stat().st_size
    if size % 512:
        raise ValueError(f"{raw} is not a whole number of 512-byte sectors")
    digest = hashlib.sha256(f"{out.name}:{size}".encode()).digest()
    out.write_text(_VMFS_DESCRIPTOR.format(
        cid=digest[:4].hex(), sectors=size // 512, flat=flat.name, cylinders=max(1, size // (255 * 63 * 512)),
        long_cid=digest[:16].hex(), uuid=" ".join(f"{b:02x}" for b in digest[16:32])))
    return out


def _copy(src: Path, dst: Path) -> None:
    _run(["cp", "--sparse=always", "--reflink=auto", str(src), str(dst)])


# ----------------------------------------------------------------------------------------- repository


_VMX_TEMPLATE = """.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "13"
displayName = "{vm}"
guestOS = "{guest_os}"
memsize = "2048"
numvcpus = "2"
uuid.bios = "{uuid}"
scsi0.present = "TRUE"
scsi0.virtualDev = "lsisas1068"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.networkName = "VM Network"
"""


def folder_time(created: datetime) -> str:
    return created.strftime("%Y-%m-%d_%H-%M-%S")


def make_repository(
    factory: DiskFactory,
    root: str | os.PathLike[str],
    vms: Mapping[str, list[PointSpec]],
    naming: Literal["date", "numbered"] = "date",
) -> dict[str, list[BuiltPoint]]:
    """Lay out a ghettoVCB repository: ``<root>/<VM>/<VM>-<YYYY-MM-DD_HH-MM-SS>/`` (or ``<VM>-<N>``).

    Each point holds ``<VM>.vmx`` naming its disks (``<VM>.vmdk``, ``<VM>_1.vmdk``...), the disks, and
    ``STATUS.ok``/``STATUS.error``/``STATUS.warn`` as ghettoVCB writes them. Returns what was built,
    oldest first per VM, so tests can compare a catalog against it.
    """
    built: dict[str, list[BuiltPoint]] = {}
    for vm, points in vms.items():
        vm_dir = Path(root, vm)
        vm_dir.mkdir(parents=True, exist_ok=True)
        built[vm] = []
        for n, point in enumerate(sorted(points, key=lambda p: p.created)):
            folder = vm_dir / (f"{vm}-{folder_time(point.created)}" if naming == "date" else f"{vm}-{n}")
            folder.mkdir()
            names = [f"{vm}.vmdk" if i == 0 else f"{vm}_{i}.vmdk" for i in range(len(point.disks))]
            first_fs = (
                point.disks[0].partitions[0].fs if point.disks and point.disks[0].partitions else "ext4"
            )
            vmx = _VMX_TEMPLATE.format(
                vm=vm,
                guest_os="windows9srv-64" if first_fs == "ntfs" else "otherlinux-64",
                uuid=" ".join(f"{b:02x}" for b in hashlib.sha256(vm.encode()).digest()[:16]),
            )
            for i, (disk, name) in enumerate(zip(point.disks, names, strict=True)):
                factory.vmdk(disk, point.subformat, folder, name)
                vmx += (
                    f'scsi0:{i}.present = "TRUE"\nscsi0:{i}.fileName = "{name}"\n'
                    f'scsi0:{i}.deviceType = "scsi-hardDisk"\n'
                )
            (folder / f"{vm}.vmx").write_text(vmx)
            if point.status:
                (folder / f"STATUS.{point.status}").write_text("")
            stamp = point.created.timestamp()
            for f in folder.iterdir():
                os.utime(f, (stamp, stamp))
            result_path = folder
            if point.compressed:
                result_path = folder.with_name(folder.name + ".gz")
                with (
                    gzip.open(result_path, "wb", compresslevel=1) as gz,
                    tarfile.open(fileobj=gz, mode="w") as tar,
                ):
                    tar.add(folder, arcname=folder.name)
                shutil.rmtree(folder)
            built[vm].append(
                BuiltPoint(vm, result_path, point.created, point.status, point.compressed, names, point)
            )
    return built
