"""The catalog on every VMDK subformat x NTFS/ext4/FAT32 x MBR/GPT, from real images to exact bytes.

For each combination, a VM with two restore points is laid out by the disk bench, indexed the way the
index job does it (``index_disk``: NTFS through the one-pass MFT scan), and then the operator's four
questions are asked through the app service: what is in this folder, where is my file, which versions
exist, and give me the bytes of the old one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.bench.diskfactory import SUBFORMATS, DiskSpec, PartitionSpec, PointSpec
from vmrestore.app.bootstrap import build_services
from vmrestore.app.catalog_index import index_disk
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.catalog.layout import discover

REPORT = "Users/alice/Documents/Q3-report.xlsx"


def _files(day: int) -> dict[str, bytes | str | None]:
    files: dict[str, bytes | str | None] = {
        REPORT: f"quarterly numbers, revision {day}\n" * (40 * day),  # size changes every day
        "keep/same.txt": "unchanged between restore points\n",
        "Users/alice/Desktop": None,
    }
    if day == 2:
        files["only-day2/new.txt"] = "created on day 2\n"
    return files


@pytest.mark.parametrize("table", ["mbr", "gpt"])
@pytest.mark.parametrize("fs", ["ntfs", "ext4", "fat32"])
@pytest.mark.parametrize("subformat", SUBFORMATS)
def test_list_search_versions_extract(
    subformat: str, fs: str, table: str, make_repo: Callable[..., Any], tmp_path: Path
) -> None:
    def point(day: int) -> PointSpec:
        disk = DiskSpec(table, [PartitionSpec(fs, 0, "DATA", _files(day))])  # type: ignore[arg-type]
        return PointSpec(datetime(2024, 6, day, 1, 0, 0, tzinfo=UTC), [disk], subformat=subformat)

    repo = make_repo({"app01": [point(1), point(2)]})
    services = build_services(str(tmp_path / "home"), secrets=MemorySecretStore())
    try:
        catalog = services.catalog
        catalog.add_repository("main", str(repo.root), None)
        points = discover(repo.root, "main")
        catalog.store.upsert_points(points)
        for p in points:
            result = index_disk(catalog.location, p.id, str(Path(p.path) / p.disks[0].file), "disk0")
            assert result.errors == ()
        newest, oldest = (p.id for p in catalog.points(vm="app01"))
        assert {d.format for p in catalog.points(vm="app01") for d in p.disks} == {subformat}

        listing = catalog.list_dir(newest, "/disk0/vol1/Users/alice/Documents")
        assert [(e.name, e.size) for e in listing] == [("Q3-report.xlsx", len(_files(2)[REPORT]))]  # type: ignore[arg-type]
        assert {e.name for e in catalog.list_dir(newest, "/disk0/vol1")} >= {"Users", "keep", "only-day2"}
        assert "only-day2" not in {e.name for e in catalog.list_dir(oldest, "/disk0/vol1")}

        hits = catalog.search("q3-report")
        assert sorted((h.point_id, h.size) for h in hits) == sorted(
            [(newest, len(_files(2)[REPORT])), (oldest, len(_files(1)[REPORT]))])  # type: ignore[arg-type]
        assert [h.path for h in catalog.search("*.txt", vm="app01") if h.path.startswith("/only")] == [
            "/only-day2/new.txt"]

        versions = catalog.versions(newest, f"/disk0/vol1/{REPORT}")
        assert [(v.point_id, v.changed) for v in versions] == [(newest, True), (oldest, True)]
        same = catalog.versions(newest, "/disk0/vol1/keep/same.txt")
        assert [(v.point_id, v.changed) for v in same] == [(newest, False), (oldest, True)]

        target = tmp_path / "restored"
        result = catalog.extract(oldest, [f"/disk0/vol1/{REPORT}"], str(target))
        assert result.files == 1
        assert (target / "Q3-report.xlsx").read_bytes() == str(_files(1)[REPORT]).encode()
    finally:
        services.close()
