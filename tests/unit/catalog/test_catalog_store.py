"""The catalog store, SQLite file and PostgreSQL server alike: dedup, listing, search, versions, resume, cancel.

Every test runs against both backends (the ``store`` fixture is parametrised): the team catalog must
behave exactly as the embedded one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from vmrestore.catalog import CatalogStore, HitCount, Repository, open_store, pg_search, sqlite_search
from vmrestore.catalog.pg_store import PostgresCatalogStore
from vmrestore.catalog.sqlite_store import SqliteCatalogStore
from vmrestore.errors import Cancelled, InvalidInput, NotFound
from vmrestore.model import FileEntry, FileType, RestorePoint

T0 = datetime(2024, 9, 1, 22, 0, 0, tzinfo=UTC)
MT = datetime(2024, 8, 1, 12, 0, 0, tzinfo=UTC)


def point(vm: str, day: int, repo: str = "nas") -> RestorePoint:
    created = T0 + timedelta(days=day)
    folder = f"{vm}-{created:%Y-%m-%d_%H-%M-%S}"
    return RestorePoint(
        id=f"{repo}/{vm}/{folder}", repo=repo, vm=vm, created=created, path=f"/r/{vm}/{folder}", status="ok"
    )


def f(path: str, size: int = 100, mtime: datetime = MT) -> FileEntry:
    return FileEntry(path=path, name=path.rsplit("/", 1)[1], type=FileType.FILE, size=size, mtime=mtime)


def d(path: str) -> FileEntry:
    return FileEntry(path=path, name=path.rsplit("/", 1)[1], type=FileType.DIR, size=0, mtime=MT)


def scalar(store: CatalogStore, sql: str) -> int:
    """One number read straight from the backend's database (not through the store under test)."""
    if isinstance(store, PostgresCatalogStore):
        with psycopg.connect(store.url) as pg:
            row = pg.execute(sql).fetchone()
    else:
        assert isinstance(store, SqliteCatalogStore)
        with sqlite3.connect(store.path) as lite:
            row = lite.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def version_rows(store: CatalogStore) -> int:
    return scalar(store, "SELECT count(*) FROM versions")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CatalogStore]:
    location = str(tmp_path / "catalog.sqlite") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = open_store(location)
    yield s
    s.close()


def base_files() -> list[FileEntry]:
    return [
        d("/Users"),
        d("/Users/alice"),
        d("/Users/alice/Documents"),
        f("/Users/alice/Documents/Q3-report.xlsx", 5000),
        f("/Users/alice/Documents/notes.txt", 10),
        f("/Users/bob/budget 2024.XLSX", 7000),
        f("/pagefile.sys", 1 << 30),
    ]


def test_repositories_round_trip(store: CatalogStore) -> None:
    store.add_repository(Repository("nas", r"\\nas\backups", "nas:/export/backups"))
    store.add_repository(Repository("local", "/mnt/b"))
    store.add_repository(Repository("nas", r"\\nas2\backups", None))  # re-adding updates
    assert store.list_repositories() == [
        Repository("local", "/mnt/b", None),
        Repository("nas", r"\\nas2\backups", None),
    ]


def test_points_newest_first_and_filtered(store: CatalogStore) -> None:
    pts = [point("web01", 0), point("web01", 2), point("db01", 1, repo="other")]
    assert store.upsert_points(pts) == 3
    assert store.upsert_points(pts[:1]) == 0
    assert [p.id for p in store.list_points()] == [pts[1].id, pts[2].id, pts[0].id]
    assert [p.id for p in store.list_points(vm="web01")] == [pts[1].id, pts[0].id]
    assert [p.id for p in store.list_points(repo="other")] == [pts[2].id]
    assert store.get_point(pts[0].id) == pts[0]
    with pytest.raises(NotFound):
        store.get_point("nope")


def test_list_dir_directories_first(store: CatalogStore) -> None:
    p = point("web01", 0)
    store.upsert_points([p])
    stats = store.index_volume(p.id, "scsi0:0", 1, base_files())
    assert (stats.entries, stats.inserted, stats.skipped) == (7, 7, False)
    root = store.list_dir(p.id, "scsi0:0", 1, "/")
    assert [(e.name, e.type) for e in root] == [("Users", FileType.DIR), ("pagefile.sys", FileType.FILE)]
    docs = store.list_dir(p.id, "scsi0:0", 1, "/Users/alice/Documents/")
    assert docs == [
        f("/Users/alice/Documents/notes.txt", 10),
        f("/Users/alice/Documents/Q3-report.xlsx", 5000),
    ]
    assert store.list_dir(p.id, "scsi0:0", 1, "/nowhere") == []
    with pytest.raises(NotFound):
        store.list_dir(p.id, "scsi0:0", 2, "/")


def test_dedup_thirty_points_one_percent_change(store: CatalogStore) -> None:
    files = 2000
    pts = [point("fs01", i) for i in range(30)]
    store.upsert_points(pts)
    sizes = [100] * files
    for i, p in enumerate(pts):
        if i:
            for k in range(files // 100):  # 1 % of the files change between consecutive points
                sizes[(i * 37 + k * 101) % files] += 1
        entries = [f(f"/data/dir{j % 50}/file{j}.dat", sizes[j]) for j in range(files)]
        store.index_volume(p.id, "scsi0:0", 1, entries)
    rows = version_rows(store)
    assert files * 1.25 <= rows <= files * 1.35, rows  # ≈ files × 1.29, not files × 30
    # And every point still reads back exactly its own state.
    last = store.list_dir(pts[-1].id, "scsi0:0", 1, "/data/dir0")
    assert {e.name: e.size for e in last} == {f"file{j}.dat": sizes[j] for j in range(0, files, 50)}
    first = store.list_dir(pts[0].id, "scsi0:0", 1, "/data/dir0")
    assert {e.size for e in first} == {100}


def test_deleted_file_absent_from_later_point(store: CatalogStore) -> None:
    p0, p1 = point("web01", 0), point("web01", 1)
    store.upsert_points([p0, p1])
    store.index_volume(p0.id, "scsi0:0", 1, base_files())
    store.index_volume(p1.id, "scsi0:0", 1, [e for e in base_files() if e.name != "Q3-report.xlsx"])
    assert "Q3-report.xlsx" not in {
        e.name for e in store.list_dir(p1.id, "scsi0:0", 1, "/Users/alice/Documents")
    }
    assert "Q3-report.xlsx" in {e.name for e in store.list_dir(p0.id, "scsi0:0", 1, "/Users/alice/Documents")}
    hits = store.search("q3-REPORT")
    assert [(h.point_id, h.path) for h in hits] == [(p0.id, "/Users/alice/Documents/Q3-report.xlsx")]


def test_search_substring_glob_vm_and_dates(store: CatalogStore) -> None:
    web = [point("web01", i) for i in range(3)]
    db = [point("db01", i) for i in range(3)]
    store.upsert_points(web + db)
    for p in web + db:
        store.index_volume(p.id, "scsi0:0", 1, base_files())
    # Unchanged across 3 points: one hit per VM, pointing at the newest point, spanning all three.
    hits = store.search("report")
    assert sorted((h.vm, h.point_id) for h in hits) == [("db01", db[2].id), ("web01", web[2].id)]
    h = next(h for h in hits if h.vm == "web01")
    assert (h.first_seen, h.last_seen, h.size, h.name) == (
        web[0].created,
        web[2].created,
        5000,
        "Q3-report.xlsx",
    )
    assert h.path == "/Users/alice/Documents/Q3-report.xlsx" and (h.disk_key, h.volume_index) == (
        "scsi0:0",
        1,
    )
    # Glob, case-insensitive, anchored on the whole name.
    assert {h.name for h in store.search("*.xlsx", vm="web01")} == {"Q3-report.xlsx", "budget 2024.XLSX"}
    assert {h.name for h in store.search("q?-*", vm="web01")} == {"Q3-report.xlsx"}
    assert {h.name for h in store.search("[bn]*", vm="web01")} == {"budget 2024.XLSX", "notes.txt"}
    assert {h.name for h in store.search("[!bn]*.xlsx", vm="web01")} == {"Q3-report.xlsx"}
    assert store.search("*.xls") == []
    # Short substrings (no trigram) still work, by scanning the distinct names.
    assert {h.name for h in store.search("q3", vm="db01")} == {"Q3-report.xlsx"}
    # VM filter.
    assert {h.vm for h in store.search("notes", vm="db01")} == {"db01"}
    # Date range: only the first point's day → the hit names that point.
    day0 = store.search("notes", vm="web01", since=web[0].created, until=web[0].created + timedelta(hours=1))
    assert [h.point_id for h in day0] == [web[0].id]
    assert store.search("notes", until=web[0].created - timedelta(days=1)) == []
    # Limit.
    assert len(store.search("s", limit=3)) == 3
    with pytest.raises(InvalidInput):
        store.search("  ")


def test_count_hits_is_the_number_of_hits_search_returns(store: CatalogStore) -> None:
    """count_hits counts exactly what an unlimited search returns, for every kind of pattern and filter."""
    web = [point("web01", i) for i in range(4)]
    db = [point("db01", i) for i in range(2)]
    store.upsert_points(web + db)
    for i, p in enumerate(web + db):
        files = base_files()
        if i in (1, 2):  # web01's budget changes, changes again, then is back: four versions of one path
            files[5] = f("/Users/bob/budget 2024.XLSX", 7000 + i)
        files.append(f(f"/logs/q{i}.log", 10))  # a new file per point: one version each
        store.index_volume(p.id, "scsi0:0", 1, files)
    cases: list[tuple[str, dict[str, object]]] = [
        ("report", {}), ("budget", {}), ("budget", {"vm": "web01"}), ("*.xlsx", {}), ("*.XLSX", {"vm": "db01"}),
        ("q?-*", {}), ("q*", {}), ("[bn]*", {}), ("s", {}), ("q3", {}), ("x", {}), (".l", {}), ("*.lo?", {}),
        ("a?e*", {}), ("budget", {"since": web[1].created, "until": web[2].created + timedelta(hours=1)}),
        ("*.log", {"since": web[3].created}), ("notes", {"vm": "nobody"}), ("zzz", {}), ("z", {}),
        ("notes", {"until": web[0].created - timedelta(days=1)}),
    ]
    for pattern, kwargs in cases:
        hits = store.search(pattern, limit=10_000, **kwargs)  # type: ignore[arg-type]
        counted = store.count_hits(pattern, **kwargs)  # type: ignore[arg-type]
        assert counted == HitCount(len(hits), False), (pattern, kwargs)
    assert store.count_hits("budget") == HitCount(5, False)  # web01: 4 versions, db01: 1
    assert store.count_hits("*.log") == HitCount(6, False)
    assert store.count_hits("*.log", vm="web01", since=web[1].created) == HitCount(3, False)
    # Beyond the cap the count stops there and says it is a lower bound: "5+".
    assert store.count_hits("*.log", cap=5) == HitCount(5, True)
    assert store.count_hits("*.log", cap=5).text() == "5+"
    assert store.count_hits("*.log", cap=6) == HitCount(6, False)
    with pytest.raises(InvalidInput):
        store.count_hits("**")


def test_a_filtered_count_reads_a_bounded_number_of_paths(store: CatalogStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a VM or a date filter the count stops after PATH_BUDGET candidate paths and says "at least"."""
    monkeypatch.setattr(sqlite_search, "PATH_BUDGET", 3)
    monkeypatch.setattr(pg_search, "PATH_BUDGET", 3)
    pts = [point("web01", 0), point("db01", 0)]
    store.upsert_points(pts)
    for p in pts:
        store.index_volume(p.id, "scsi0:0", 1, [f(f"/logs/x{i}.log") for i in range(5)])
    assert store.count_hits("*.log") == HitCount(10, False)  # no filter: no budget, only the cap
    assert store.count_hits("*.log", vm="db01") == HitCount(3, True)
    assert store.count_hits("x1.log", vm="db01") == HitCount(1, False)
    assert len(store.search("*.log", vm="db01", limit=100)) == 5  # the page itself is never cut short


def test_short_patterns_find_every_name_holding_them(store: CatalogStore) -> None:
    """One and two characters (below a trigram), anywhere in the name, the name's own case ignored."""
    p = point("web01", 0)
    store.upsert_points([p])
    names = ["Qa.txt", "aQ", "xqa", "b", "ä.doc", "Ä2", "q", "report.q", "a b"]
    store.index_volume(p.id, "scsi0:0", 1, [f(f"/d/{n}") for n in names])
    for needle in ("qa", "q", "ä", "a", ".", "2", "zz", "b"):
        expected = {n for n in names if needle in n.lower()}
        assert {h.name for h in store.search(needle, limit=100)} == expected, needle
        assert store.count_hits(needle) == HitCount(len(expected), False), needle
    assert {h.name for h in store.search("?q*", limit=100)} == {"aQ", "xqa"}
    assert {h.name for h in store.search("*.q", limit=100)} == {"report.q"}


def test_versions_changed_flag(store: CatalogStore) -> None:
    pts = [point("web01", i) for i in range(5)]
    store.upsert_points(pts)
    sizes = [1, 1, 2, None, 2]  # None: file absent in that point
    for p, size in zip(pts, sizes, strict=True):
        entries = [f("/a/keep.txt")] + ([f("/a/x.doc", size)] if size is not None else [])
        store.index_volume(p.id, "scsi0:0", 1, entries)
    got = store.versions(pts[0].id, "scsi0:0", 1, "/a/x.doc")
    assert [(v.point_id, v.size, v.changed) for v in got] == [
        (pts[4].id, 2, True),  # re-appeared after being absent
        (pts[2].id, 2, True),
        (pts[1].id, 1, False),
        (pts[0].id, 1, True),  # first appearance
    ]
    assert got[0].created == pts[4].created
    assert store.versions(pts[0].id, "scsi0:0", 1, "/a/none") == []


def test_resumable_indexing_is_a_noop_the_second_time(store: CatalogStore) -> None:
    p = point("web01", 0)
    store.upsert_points([p])
    store.index_volume(p.id, "scsi0:0", 1, base_files())
    before = version_rows(store)

    def explode() -> Iterator[FileEntry]:
        raise AssertionError("entries must not be read for an indexed volume")
        yield

    again = store.index_volume(p.id, "scsi0:0", 1, explode())
    assert again.skipped and version_rows(store) == before
    assert store.is_indexed(p.id, "scsi0:0", 1) and not store.is_indexed(p.id, "scsi0:0", 2)


def test_cancel_mid_volume_rolls_back(store: CatalogStore) -> None:
    p0, p1 = point("web01", 0), point("web01", 1)
    store.upsert_points([p0, p1])
    store.index_volume(p0.id, "scsi0:0", 1, base_files())
    before = version_rows(store)
    cancel = threading.Event()

    def entries() -> Iterator[FileEntry]:
        for i in range(20000):
            if i == 12000:
                cancel.set()
            yield f(f"/big/file{i}.bin", i)

    with pytest.raises(Cancelled):
        store.index_volume(p1.id, "scsi0:0", 1, entries(), cancel)
    assert version_rows(store) == before
    assert not store.is_indexed(p1.id, "scsi0:0", 1)
    # The rows of the earlier point were not extended by the cancelled one.
    assert store.versions(p0.id, "scsi0:0", 1, "/pagefile.sys")[0].point_id == p0.id
    # And the volume indexes fine afterwards.
    assert store.index_volume(p1.id, "scsi0:0", 1, base_files()).extended == 7


def test_out_of_order_point_splits_intervals(store: CatalogStore) -> None:
    pts = [point("web01", i) for i in range(4)]
    store.upsert_points(pts)
    same = [f("/same.txt"), f("/changes.txt", 1), f("/gone-in-2.txt")]
    store.index_volume(pts[0].id, "scsi0:0", 1, same)
    store.index_volume(pts[1].id, "scsi0:0", 1, same)
    store.index_volume(pts[3].id, "scsi0:0", 1, same)
    # Point 2 is indexed last but lies between 1 and 3.
    store.index_volume(pts[2].id, "scsi0:0", 1, [f("/same.txt"), f("/changes.txt", 2), f("/new-in-2.txt")])
    expect = {
        0: {"same.txt": 100, "changes.txt": 1, "gone-in-2.txt": 100},
        1: {"same.txt": 100, "changes.txt": 1, "gone-in-2.txt": 100},
        2: {"same.txt": 100, "changes.txt": 2, "new-in-2.txt": 100},
        3: {"same.txt": 100, "changes.txt": 1, "gone-in-2.txt": 100},
    }
    for i, p in enumerate(pts):
        assert {e.name: e.size for e in store.list_dir(p.id, "scsi0:0", 1, "/")} == expect[i], i
    assert [v.changed for v in store.versions(pts[0].id, "scsi0:0", 1, "/changes.txt")] == [
        True,
        True,
        False,
        True,
    ]
    assert len(store.versions(pts[0].id, "scsi0:0", 1, "/same.txt")) == 4
    # Filling a gap with the same content merges the two intervals again.
    q = [point("db01", i) for i in range(3)]
    store.upsert_points(q)
    store.index_volume(q[0].id, "scsi0:0", 1, [f("/x")])
    store.index_volume(q[2].id, "scsi0:0", 1, [f("/x")])
    store.index_volume(q[1].id, "scsi0:0", 1, [f("/x")])
    db01 = "SELECT count(*) FROM versions v JOIN lineages l ON l.id = v.lineage_id WHERE l.vm = 'db01'"
    assert scalar(store, db01) == 1


def test_open_store_factory(tmp_path: Path) -> None:
    s = open_store(tmp_path / "c.sqlite")
    s.add_repository(Repository("a", "/a"))
    s.close()
    s2 = open_store(f"sqlite:///{tmp_path}/c.sqlite")
    assert [r.name for r in s2.list_repositories()] == ["a"]
    s2.close()
    with pytest.raises(InvalidInput):
        open_store("mysql://db/catalog")


def test_open_store_postgresql_url(pg_url: str) -> None:
    s = open_store(pg_url)
    assert isinstance(s, PostgresCatalogStore)
    s.add_repository(Repository("a", "/a"))
    s.close()
    again = open_store(pg_url)
    assert [r.name for r in again.list_repositories()] == ["a"] and again.migrations_applied == []
    again.close()


def test_reads_from_another_thread_while_open(store: CatalogStore) -> None:
    p = point("web01", 0)
    store.upsert_points([p])
    store.index_volume(p.id, "scsi0:0", 1, base_files())
    found: list[int] = []
    t = threading.Thread(target=lambda: found.append(len(store.search("notes"))))
    t.start()
    t.join()
    assert found == [1]


def test_next_point_listing_a_path_twice_keeps_the_later_entry(store: CatalogStore) -> None:
    """The incremental path (previous point indexed) resolves duplicates as staging does: later wins."""
    p0, p1, p2 = point("dup01", 0), point("dup01", 1), point("dup01", 2)
    store.upsert_points([p0, p1, p2])
    base = [d("/a"), f("/a/same.txt", 10), f("/a/changed.txt", 20), f("/top.txt", 30)]
    store.index_volume(p0.id, "scsi0:0", 1, base)
    # Unchanged then changed, changed then unchanged, and a root-level file twice unchanged.
    twice = [d("/a"), f("/a/same.txt", 10), f("/a/same.txt", 11), f("/a/changed.txt", 21),
             f("/a/changed.txt", 20), f("/top.txt", 30), f("/top.txt", 30), f("/a/new.txt", 5)]
    stats = store.index_volume(p1.id, "scsi0:0", 1, twice)
    assert (stats.entries, stats.inserted, stats.extended) == (5, 2, 3)
    assert {e.name: e.size for e in store.list_dir(p1.id, "scsi0:0", 1, "/a")} == {
        "same.txt": 11, "changed.txt": 20, "new.txt": 5}
    assert [e.name for e in store.list_dir(p1.id, "scsi0:0", 1, "/")] == ["a", "top.txt"]
    assert [(v.point_id, v.size, v.changed) for v in store.versions(p1.id, "scsi0:0", 1, "/a/changed.txt")] == [
        (p1.id, 20, False), (p0.id, 20, True)]
    store.index_volume(p2.id, "scsi0:0", 1, base)
    assert [(v.point_id, v.size) for v in store.versions(p2.id, "scsi0:0", 1, "/a/same.txt")] == [
        (p2.id, 10), (p1.id, 11), (p0.id, 10)]
