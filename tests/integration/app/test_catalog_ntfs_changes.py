"""The NTFS scan's listing of changes gives the catalog that indexing every file gives, on a real next point.

Point 1 is a volume made by mkntfs + ntfs-3g; point 2 is point 1's volume mounted again with ntfs-3g and
changed (tests/bench/ntfs_next.py), so unchanged files keep their FILE records and the scan parses only
what changed. Point 2's changes: a file rewritten, a file renamed, a file deleted, a file moved to another
folder, a folder renamed (its files' records unchanged, their paths not), a file deleted and another created
(NTFS gives it the freed record), a hard link added, a new folder with files, and a file that many hard links
spill into extension records (ntfs-3g writes them) that gets one more link.

Catalog A indexes both points with the scan's listing (point 2 as changes against point 1's state); catalog
B indexes both from ``FileEntry`` values (the by-path comparison). Every folder listing, versions answer and
search must be equal; and A's point 2 must have been listed as changes, not as the whole volume.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec
from tests.bench.ntfs_next import next_point_vmdk
from vmrestore.catalog import open_store
from vmrestore.catalog.store import CatalogStore
from vmrestore.disks.filesystems import NtfsFileSystem, open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.disks.ntfs_listing import MftScan
from vmrestore.model import DiskInfo, RestorePoint

pytestmark = pytest.mark.disktools

LINKS = 60  # hard links to one file: their names overflow into extension records


def _spec() -> DiskSpec:
    files: dict[str, bytes | str | None] = {f"data/d{d}/f{f:02d}.txt": f"file {d}/{f}\n" for d in range(5)
                                            for f in range(20)}
    files.update({
        "docs/report.docx": "report\n", "docs/sub/notes.txt": "notes\n", "move-me.txt": "moving\n",
        "rename-me.txt": "renaming\n", "delete-me.txt": "deleting\n", "reuse-me.txt": "freed\n",
        "links/target.bin": "x" * 5000, "empty": None,
    })
    return DiskSpec("gpt", [PartitionSpec("ntfs", 0, "DATA", files)])


def _links(root: Path) -> None:
    """The first point's volume already carries the many links (so point 2 changes extension records)."""
    for i in range(LINKS):
        os.link(root / "links/target.bin", root / f"links/alias-{i:03d}-{'n' * 40}")


def _point(vmdk: Path, day: int) -> RestorePoint:
    disk = DiskInfo(vmdk.name, 0, "monolithicSparse")
    return RestorePoint(f"main/vm/p{day}", "main", "vm", datetime(2024, 6, day, tzinfo=UTC), str(vmdk.parent), "ok",
                        disks=(disk,))


def _answers(store: CatalogStore, points: list[RestorePoint]) -> list[object]:
    out: list[object] = []
    for p in points:
        todo = ["/"]
        while todo:
            folder = todo.pop()
            listing = store.list_dir(p.id, "disk0", 1, folder)
            out.append((p.id, folder, listing))
            for e in listing:
                path = folder.rstrip("/") + "/" + e.name
                out.append((p.id, path, store.versions(p.id, "disk0", 1, path)))
                if e.type == "dir":
                    todo.append(path)
    for pattern in ("f0", "*.txt", "report", "moved", "alias", "reused", "hard-link"):
        out.append((pattern, sorted(store.search(pattern, limit=5000), key=repr)))
    return out


def test_changes_listing_equals_indexing_every_file(disk_factory: DiskFactory, tmp_path: Path) -> None:
    base = _spec()
    p1_vmdk = next_point_vmdk(disk_factory, base, _links, "links-v1", tmp_path / "p1", "vm.vmdk")
    p2_vmdk = next_point_vmdk(disk_factory, base, _edits, "edits-v1", tmp_path / "p2", "vm.vmdk", after="links-v1")
    points = [_point(p1_vmdk, 1), _point(p2_vmdk, 2)]
    a, b = open_store(str(tmp_path / "a.sqlite")), open_store(str(tmp_path / "b.sqlite"))
    try:
        a.upsert_points(points)
        b.upsert_points(points)
        for p in points:
            with open_vmdk(str(Path(p.path) / p.disks[0].file)) as disk:
                fs = open_filesystem(disk, 1, what=p.id)
                assert isinstance(fs, NtfsFileSystem)
                a.index_volume(p.id, "disk0", 1, fs.scan("/"))
                b.index_volume(p.id, "disk0", 1, list(fs.scan("/")))
        assert _answers(a, points) == _answers(b, points)
        # The second point was listed as changes: only the files whose records changed were parsed.
        with open_vmdk(p1_vmdk) as d1, open_vmdk(p2_vmdk) as d2:
            fs1, fs2 = open_filesystem(d1, 1, "p1"), open_filesystem(d2, 1, "p2")
            first = fs1.scan("/")
            second = fs2.scan("/")
            assert isinstance(first, MftScan) and isinstance(second, MftScan)
            whole = first.listing(None)
            changes = second.listing(whole.state)
            everything = fs2.scan("/")
            assert isinstance(everything, MftScan)
            full = everything.listing(None)
        assert not changes.complete and changes.entries == full.entries
        # target.bin got one more link: all its names are listed again (its record changed); little else is.
        others = [r for r in changes.rows if not r[1].startswith("alias-")]
        assert len(changes.rows) - len(others) == LINKS and 0 < len(others) < 25 < len(full.rows) - LINKS
        gone = set(changes.gone)
        assert {"/rename-me.txt", "/delete-me.txt", "/move-me.txt", "/docs/report.docx", "/docs/sub/notes.txt",
                "/reuse-me.txt", "/data/d1/f03.txt"} <= gone
        listed = {(changes.folders[r[0]].rstrip("/") + "/" + r[1]) for r in changes.rows}
        assert {"/renamed.txt", "/data/d2/moved-here.txt", "/docs-2024/report.docx", "/docs-2024/sub/notes.txt",
                "/reused.txt", "/empty/hard-link.txt", "/new/deeper/n2.txt", "/data/d1/f03.txt"} <= listed
        assert "/data/d4/f19.txt" not in listed and "/data/d4/f19.txt" not in gone
    finally:
        a.close()
        b.close()


def _edits(root: Path) -> None:
    os.link(root / "links/target.bin", root / "links/one-more-link")
    (root / "data/d1/f03.txt").write_text("rewritten, longer than before\n")
    (root / "rename-me.txt").rename(root / "renamed.txt")
    (root / "delete-me.txt").unlink()
    (root / "move-me.txt").rename(root / "data/d2/moved-here.txt")
    (root / "docs").rename(root / "docs-2024")
    (root / "reuse-me.txt").unlink()
    (root / "reused.txt").write_text("a new file in a freed record\n")
    os.link(root / "data/d0/f00.txt", root / "empty/hard-link.txt")
    (root / "new/deeper").mkdir(parents=True)
    for i in range(3):
        (root / f"new/deeper/n{i}.txt").write_text(f"new {i}\n")
