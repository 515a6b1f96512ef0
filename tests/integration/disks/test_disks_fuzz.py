"""Damage fuzz: flipped bytes in real images never crash, hang or eat memory; they index and browse cleanly.

Restore points are laid out by the disk bench (real mkntfs/mke2fs/mkfs.vfat/sfdisk/qemu-img images), then
each case copies one and flips a few bytes in one region: the sparse extent header, the embedded or text
descriptor, the grain directory, a grain table, the partition table, or file-system metadata (NTFS boot
sector and MFT, ext4 superblock and group descriptors, FAT boot sector and tables). The cases come from a
fixed seed, so a failure names a case that reproduces.

``fuzz_worker`` indexes each case with the real index job and browses it the way ``files ls``/``files
extract`` do, in a process with a memory limit and step timeouts. A clean result is: the index job ends
done (damage becomes a report line, never a failed job), every browse error is a ``VmrestoreError`` with
exit code 1 and a message, a point indexed as damaged refuses browsing with ``corrupt_image``, and
nothing escapes as a traceback.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec, PointSpec, make_repository
from vmrestore.disks.image import open_vmdk
from vmrestore.disks.volumes import list_volumes

pytestmark = pytest.mark.disktools

SEED = 15
# One case per region in CI (28 cases, seconds); VMRESTORE_FUZZ_PER_REGION=50 for a long local run.
CASES_PER_REGION = int(os.environ.get("VMRESTORE_FUZZ_PER_REGION", "1"))
SECTOR = 512
WHEN = datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
FILES = {f"Users/alice/file{i}.txt": f"alice {i}\n" * 200 for i in range(6)}
IMAGES = {
    "ntfsfat": PointSpec(WHEN, [DiskSpec("gpt", [PartitionSpec("ntfs", 8, "C", FILES),
                                                 PartitionSpec("fat32", 0, "EFI", {"boot/a.efi": b"MZ" * 300})])]),
    "ext4": PointSpec(WHEN, [DiskSpec("mbr", [PartitionSpec("ext4", 4, "root", {"etc/hostname": "db01\n",
                                                                                **FILES})])]),
    "flat": PointSpec(WHEN, [DiskSpec("gpt", [PartitionSpec("fat32", 0, "DATA", FILES)])], subformat="monolithicFlat"),
    "stream": PointSpec(WHEN, [DiskSpec("mbr", [PartitionSpec("ntfs", 8, "D", FILES)])], subformat="streamOptimized"),
}
ALLOWED_CODES = {"corrupt_image", "not_found", "broken_chain", "unsupported_format"}


@dataclass
class Region:
    """Bytes of one file that hold one kind of metadata (offsets in the file, not the guest disk)."""

    name: str
    file: str  # relative to the restore-point folder
    offsets: list[int]


class SparseMap:
    """Guest-disk offsets → offsets in a monolithicSparse file, through its grain directory and tables."""

    def __init__(self, data: bytes) -> None:
        fields = struct.unpack_from("<4sIIQQQQIQQQ", data)
        self.compressed = bool(fields[2] & 0x10000)
        if fields[9] == 0xFFFFFFFFFFFFFFFF:  # streamOptimized: the real header is the footer, 1 KiB from the end
            fields = struct.unpack_from("<4sIIQQQQIQQQ", data, len(data) - 2 * SECTOR)
        (_magic, _v, _f, self.capacity, self.grain, self.desc_offset, self.desc_size, self.gtes, _rgd, self.gd,
         _o) = fields
        self.data = data
        count = -(-self.capacity // (self.grain * self.gtes))
        self.directory = struct.unpack_from(f"<{count}I", data, self.gd * SECTOR)

    def tables(self) -> list[int]:
        return [sector * SECTOR for sector in self.directory if sector]

    def file_offset(self, guest: int) -> int | None:
        grain_bytes = self.grain * SECTOR
        grain = guest // grain_bytes
        table = self.directory[grain // self.gtes]
        if not table:
            return None
        sector = struct.unpack_from("<I", self.data, table * SECTOR + (grain % self.gtes) * 4)[0]
        if sector <= 1:
            return None
        if self.compressed:  # a grain marker (LBA, size) then the deflated grain: damage lands in the stream
            size = struct.unpack_from("<I", self.data, sector * SECTOR + 8)[0]
            return sector * SECTOR + 12 + (guest % grain_bytes) * size // grain_bytes
        return sector * SECTOR + guest % grain_bytes


def _metadata_ranges(image: Path) -> list[tuple[str, int, int]]:
    """(region name, guest start, length) of each volume's file-system metadata, found on the intact image."""
    ranges: list[tuple[str, int, int]] = []
    with open_vmdk(image) as disk:
        for volume in list_volumes(disk, str(image)):
            disk.seek(volume.offset)
            boot = disk.read(SECTOR)
            ranges.append((f"{volume.fs} boot sector/superblock", volume.offset, 8 * 1024))
            if volume.fs == "ntfs":
                cluster = struct.unpack_from("<H", boot, 0x0B)[0] * boot[0x0D]
                mft = struct.unpack_from("<Q", boot, 0x30)[0] * cluster
                ranges.append(("ntfs MFT", volume.offset + mft, 16 * 1024))
            else:
                ranges.append((f"{volume.fs} tables", volume.offset + 8 * 1024, 56 * 1024))
    return ranges


def regions_of(folder: Path, vmdk: str) -> list[Region]:
    path = folder / vmdk
    data = path.read_bytes()
    regions: list[Region] = []
    guest: list[tuple[str, int, int]] = [("partition table", 0, 34 * SECTOR), *_metadata_ranges(path)]
    if data[:4] == b"KDMV":
        sparse = SparseMap(data)
        text_end = data.index(b"\0", sparse.desc_offset * SECTOR)
        regions += [
            Region("sparse header", vmdk, list(range(4, 80))),
            Region("embedded descriptor", vmdk, list(range(sparse.desc_offset * SECTOR, text_end))),
            Region("grain directory", vmdk, list(range(sparse.gd * SECTOR, sparse.gd * SECTOR + len(
                sparse.directory) * 4))),
            Region("grain tables", vmdk, [t + i for t in sparse.tables() for i in range(sparse.gtes * 4)]),
        ]
        if sparse.compressed:
            footer = len(data) - 2 * SECTOR
            regions.append(Region("sparse footer", vmdk, list(range(footer + 4, footer + 80))))
        for name, start, length in guest:
            mapped = {sparse.file_offset(start + i) for i in range(length)}
            label = f"{name} (deflated)" if sparse.compressed else name
            regions.append(Region(label, vmdk, sorted(m for m in mapped if m is not None)))
    else:
        flat = vmdk.replace(".vmdk", "-flat.vmdk")
        regions.append(Region("text descriptor", vmdk, list(range(len(data)))))
        regions += [Region(name, flat, list(range(start, start + length))) for name, start, length in guest]
    return [r for r in regions if r.offsets]


def make_cases(disk_factory: DiskFactory, root: Path) -> list[dict[str, Any]]:
    pristine = make_repository(disk_factory, root / "pristine", {vm: [spec] for vm, spec in IMAGES.items()})
    rng = random.Random(SEED)
    cases: list[dict[str, Any]] = []
    for vm, [point] in pristine.items():
        for region in regions_of(point.folder, point.disk_files[0]):
            for _ in range(CASES_PER_REGION):
                case_id = f"c{len(cases):02d}"
                folder = root / "cases" / case_id / vm / point.folder.name
                shutil.copytree(point.folder, folder)
                flips = sorted(rng.sample(region.offsets, min(len(region.offsets), rng.randint(1, 8))))
                with open(folder / region.file, "r+b") as fh:
                    for offset in flips:
                        fh.seek(offset)
                        old = fh.read(1)[0]
                        fh.seek(offset)
                        fh.write(bytes([old ^ rng.randint(1, 255)]))
                cases.append({"id": case_id, "repo": str(root / "cases" / case_id), "vm": vm, "region": region.name,
                              "file": region.file, "flips": flips})
    return cases


def test_flipped_bytes_index_and_browse_cleanly(disk_factory: DiskFactory, tmp_path: Path) -> None:
    cases = make_cases(disk_factory, tmp_path)
    assert len(cases) >= 28 * CASES_PER_REGION
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    run = subprocess.run([sys.executable, "-m", "tests.integration.disks.fuzz_worker", str(tmp_path / "cases.json"),
                          str(tmp_path / "home")], capture_output=True, text=True, timeout=120 + 10 * len(cases))
    assert run.returncode == 0, run.stderr[-4000:]
    results = {r["id"]: r for r in map(json.loads, run.stdout.splitlines())}
    assert set(results) == {c["id"] for c in cases}, run.stderr[-4000:]
    damaged_somewhere = 0
    for case in cases:
        result = results[case["id"]]
        where = f"{case['id']} {case['vm']} {case['region']} {case['file']} flips {case['flips']}"
        assert "crash" not in result, f"{where}:\n{result['crash']}"
        assert "hang" not in result, f"{where}: hangs in {result['hang']}"
        assert result["index"] == "done", f"{where}: {result.get('index_error')}"
        [point] = result["points"]
        for error in point["errors"]:
            if error["code"] == "skipped":  # a file the extraction could not read: reported, not fatal
                assert error["message"], where
                continue
            assert error["exit"] == 1 and error["code"] in ALLOWED_CODES, f"{where}: {error}"
            assert len(error["message"]) > 10, f"{where}: {error}"
        if point["status"] == "damaged":
            assert not point["browsable"] and point["reason"], where
            assert [e["code"] for e in point["errors"] if e["path"] == "/"] == ["corrupt_image"], where
        if point["errors"] or point["status"] == "damaged" or result["report"]:
            damaged_somewhere += 1
    assert damaged_somewhere >= len(cases) // 3  # the flips do hit something: the fuzz is not idle
