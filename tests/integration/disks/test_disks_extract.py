"""Extraction from real images: hostile names stay inside the target, links are not followed, conflicts."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.bench.diskfactory import DEFAULT_MTIME, DiskFactory, DiskSpec, PartitionSpec, Symlink
from vmrestore.disks.extract import extract
from vmrestore.disks.filesystems import open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.errors import Cancelled
from vmrestore.model import Progress

pytestmark = pytest.mark.disktools

LONG_DIRS = "/".join(["d" * 60] * 5)  # 300+ characters of directories
HOSTILE = {
    "evil/..\\..\\evil.txt": "backslashes are legal in ext4 names",
    "evil/CON": "device name",
    "evil/nul.txt": "device name with extension",
    "evil/a:b": "colon: an alternate data stream on Windows",
    "evil/trailing.": "trailing dot",
    "evil/trailing ": "trailing space",
    "evil/Same.txt": "upper",
    "evil/same.txt": "lower",
    f"evil/{LONG_DIRS}/long.txt": "deep",
    "evil/passwd-link": Symlink("/etc/passwd"),
    "evil/up-link": Symlink("../../x"),
    "evil/ok.txt": "plain",
}


@pytest.fixture
def hostile_fs(disk_factory: DiskFactory, tmp_path: Path):
    spec = DiskSpec("gpt", [PartitionSpec("ext4", 4, "HOSTILE", HOSTILE)])
    vmdk = disk_factory.vmdk(spec, "monolithicSparse", tmp_path / "image")
    with open_vmdk(vmdk) as img:
        yield open_filesystem(img, 1)


def _all_files(root: Path) -> set[str]:
    return {
        os.path.relpath(os.path.join(d, f), root) for d, dirs, files in os.walk(root) for f in files + dirs
    }


def test_hostile_names_stay_inside_and_are_reported(hostile_fs, tmp_path: Path) -> None:
    target = tmp_path / "restore" / "target"
    before = _all_files(tmp_path)
    progress: list[Progress] = []
    result = extract(hostile_fs, ["/evil"], target, on_progress=progress.append)

    # Nothing outside the target changed.
    after = _all_files(tmp_path)
    outside = {p for p in after - before if not p.startswith(os.path.join("restore", "target"))}
    assert outside == {"restore"}
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "restore" / "evil.txt").exists()

    renamed = dict(result.renamed)
    assert renamed["/evil/..\\..\\evil.txt"] == "evil/.._.._evil.txt"
    assert renamed["/evil/CON"] == "evil/_CON"
    assert renamed["/evil/nul.txt"] == "evil/_nul.txt"
    assert renamed["/evil/a:b"] == "evil/a_b"
    # "trailing." and "trailing " both become "trailing_": the second one is kept beside the first
    assert sorted([renamed["/evil/trailing."], renamed["/evil/trailing "]]) == [
        "evil/trailing_",
        "evil/trailing_ (1)",
    ]
    # Same.txt / same.txt are one name on Windows: both kept, one renamed
    assert sorted(p for p in renamed if p.lower() == "/evil/same.txt") == ["/evil/same.txt"]
    assert renamed["/evil/same.txt"] == "evil/same (1).txt"
    assert (target / "evil/.._.._evil.txt").read_text() == "backslashes are legal in ext4 names"
    assert (target / "evil" / LONG_DIRS / "long.txt").read_text() == "deep"

    skipped = {s.path: s.reason for s in result.skipped}
    assert set(skipped) == {"/evil/passwd-link", "/evil/up-link"}
    assert "/etc/passwd" in skipped["/evil/passwd-link"]
    assert not any(os.path.islink(os.path.join(d, f)) for d, ds, fs in os.walk(target) for f in fs + ds)

    written = [p for p in _all_files(target) if not os.path.isdir(target / p)]
    assert result.files == len(written) == 10
    assert result.bytes == sum((target / p).stat().st_size for p in written)
    assert (target / "evil" / "ok.txt").stat().st_mtime == DEFAULT_MTIME.timestamp()
    assert (target / "evil").stat().st_mtime == DEFAULT_MTIME.timestamp()
    assert progress[-1].fraction == 1.0
    assert not [p for p in _all_files(target) if "vmrestore-partial" in p]


def test_a_symlinked_target_subfolder_is_not_written_through(hostile_fs, tmp_path: Path) -> None:
    target = tmp_path / "target"
    outside = tmp_path / "outside"
    outside.mkdir()
    target.mkdir()
    (target / "evil").symlink_to(outside)  # left behind by someone: writing "evil/..." would escape
    result = extract(hostile_fs, ["/evil/ok.txt", "/evil"], target)
    assert list(outside.iterdir()) == []
    assert (target / "ok.txt").read_text() == "plain"
    assert "/evil" in {s.path for s in result.skipped} or "/evil" in dict(result.renamed)


def _small_fs(disk_factory: DiskFactory, tmp_path: Path):
    files = {"docs/a.txt": "new a", "docs/b.txt": "new b"}
    mtimes = {"docs/a.txt": datetime(2022, 1, 1, tzinfo=UTC)}
    spec = DiskSpec("mbr", [PartitionSpec("fat32", 0, "SMALL", files, mtimes)])
    return open_vmdk(disk_factory.vmdk(spec, "twoGbMaxExtentSparse", tmp_path / "img"))


@pytest.mark.parametrize(
    ("policy", "a_content", "renamed", "skipped"),
    [
        ("keep_both", "old a", {"/docs/a.txt": "docs/a (1).txt"}, set()),
        ("overwrite", "new a", {}, set()),
        ("skip", "old a", {}, {"/docs/a.txt"}),
    ],
)
def test_conflict_policies(
    disk_factory: DiskFactory, tmp_path: Path, policy, a_content, renamed, skipped
) -> None:
    target = tmp_path / "t"
    (target / "docs").mkdir(parents=True)
    (target / "docs" / "a.txt").write_text("old a")
    with _small_fs(disk_factory, tmp_path) as img:
        result = extract(open_filesystem(img, 1), ["/docs"], target, conflict=policy)
    assert (target / "docs" / "a.txt").read_text() == a_content
    assert (target / "docs" / "b.txt").read_text() == "new b"
    assert dict(result.renamed) == renamed
    assert {s.path for s in result.skipped} == skipped
    if policy == "keep_both":
        assert (target / "docs" / "a (1).txt").read_text() == "new a"
    if policy == "overwrite":
        assert (target / "docs" / "a.txt").stat().st_mtime == datetime(2022, 1, 1, tzinfo=UTC).timestamp()


def test_cancel_leaves_no_partial_file(disk_factory: DiskFactory, tmp_path: Path) -> None:
    big = bytes(range(256)) * 12 * 1024  # 3 MiB: several 1 MiB chunks
    spec = DiskSpec("gpt", [PartitionSpec("ntfs", 8, "C", {"big.bin": big, "small.txt": "s"})])
    event = threading.Event()

    def on_progress(p: Progress) -> None:
        if p.text == "/big.bin":
            event.set()  # cancel in the middle of the big file

    vmdk = disk_factory.vmdk(spec, "streamOptimized", tmp_path / "img")
    with open_vmdk(vmdk) as img, pytest.raises(Cancelled):
        extract(open_filesystem(img, 1), ["/"], tmp_path / "t", on_progress=on_progress, cancel=event)
    assert sorted(os.listdir(tmp_path / "t")) == []
