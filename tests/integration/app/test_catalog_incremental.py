"""Incremental indexing gives exactly the catalog that indexing from scratch gives, on real NTFS images.

Three restore points of a VM are made by the disk bench (mkntfs + ntfs-3g), with files changed, added,
removed and left alone between them. Catalog A indexes them oldest first, so points 2 and 3 take the
incremental path (unchanged paths extend their intervals, only the rest is staged). Catalog B indexes
them newest first, so point 3 goes into an empty lineage and points 1 and 2 through the general merge
(which splits intervals). Every folder listing, search result and versions answer must be equal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench.diskfactory import DiskSpec, PartitionSpec, PointSpec
from vmrestore.catalog import open_store
from vmrestore.catalog.layout import discover
from vmrestore.catalog.store import CatalogStore
from vmrestore.disks.filesystems import open_filesystem
from vmrestore.disks.image import open_vmdk
from vmrestore.model import RestorePoint


def _files(day: int) -> dict[str, bytes | str | None]:
    files: dict[str, bytes | str | None] = {
        f"data/d{d}/f{f}.txt": f"file {d}/{f}\n" for d in range(4) for f in range(6)}
    files["Users/alice/report.xlsx"] = "numbers\n" * (10 * day)  # changes every day
    files["Users/alice/Desktop"] = None
    files["data/d1/f2.txt"] = "edited\n" * min(day, 2)  # changes between 1 and 2, then stays
    if day >= 2:
        files["new/day2.txt"] = "created on day 2\n"
        del files["data/d3/f5.txt"]
    if day == 3:
        files["data/d3/f5.txt"] = "back on day 3\n"  # removed on day 2, back with other bytes
        del files["Users/alice/Desktop"]
    return files


def _index(store: CatalogStore, point: RestorePoint) -> tuple[int, int]:
    with open_vmdk(str(Path(point.path) / point.disks[0].file)) as disk:
        fs = open_filesystem(disk, 1, what=point.id)
        stats = store.index_volume(point.id, "disk0", 1, fs.scan("/"))
    return stats.inserted, stats.extended


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
    for pattern in ("f", "*.txt", "report", "day2", "Desktop"):
        out.append((pattern, sorted(store.search(pattern, limit=1000), key=repr)))
    return out


def test_incremental_equals_from_scratch(make_repo: Callable[..., Any], tmp_path: Path) -> None:
    def point(day: int) -> PointSpec:
        disk = DiskSpec("gpt", [PartitionSpec("ntfs", 0, "DATA", _files(day))])
        return PointSpec(datetime(2024, 6, day, 1, 0, 0, tzinfo=UTC), [disk])

    repo = make_repo({"app01": [point(1), point(2), point(3)]})
    points = sorted(discover(repo.root, "main"), key=lambda p: p.created)
    assert len(points) == 3
    a, b = open_store(str(tmp_path / "a.sqlite")), open_store(str(tmp_path / "b.sqlite"))
    try:
        a.upsert_points(points)
        b.upsert_points(points)
        first = _index(a, points[0])
        second, third = _index(a, points[1]), _index(a, points[2])
        for p in reversed(points):
            _index(b, p)
        # Point 2: report and f2 changed, new/ and new/day2.txt added, f5 removed; the rest extended.
        assert first == (33, 0)
        assert second == (4, 33 - 2 - 1)
        # Point 3: report changed, f5 back, Desktop removed; the rest (new/ included) extended.
        assert third == (2, 34 - 1 - 1)
        answers = _answers(a, points)
        assert answers == _answers(b, points)
        assert any(isinstance(x, tuple) and x[1] == "/data/d3/f5.txt" for x in answers)
    finally:
        a.close()
        b.close()
