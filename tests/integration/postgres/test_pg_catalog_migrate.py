"""``vmrestore catalog migrate --to postgresql://…``: every entry of a SQLite catalog arrives in PostgreSQL.

Run as a user would, through the installed entry point in a new process. The source catalog has three
VMs with changing files, one point indexed out of order (split intervals) and two volumes per point;
afterwards every folder of every volume, every search and every version history reads back identically
from both stores. A second run into the now non-empty catalog is refused and changes nothing, the
helpdesk role is refused, and the password in the URL appears nowhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from tests.bench.postgres_fixtures import PgServer
from vmrestore.catalog import CatalogStore, open_store
from vmrestore.catalog.sqlite_store import SqliteCatalogStore
from vmrestore.model import FileEntry, FileType, RestorePoint

T0 = datetime(2026, 10, 1, 1, 0, 0, tzinfo=UTC)
SECRET = "n0t-in-any-output"


def _points(vm: str, n: int) -> list[RestorePoint]:
    out = []
    for i in range(n):
        created = T0 + timedelta(days=i)
        folder = f"{vm}-{created:%Y-%m-%d_%H-%M-%S}"
        out.append(RestorePoint(id=f"nas/{vm}/{folder}", repo="nas", vm=vm, created=created,
                                path=f"/b/{vm}/{folder}", status="ok"))
    return out


def _files(vm: str, day: int, volume: int) -> list[FileEntry]:
    entries = [FileEntry(path="/Users", name="Users", type=FileType.DIR, size=0, mtime=T0)]
    entries += [FileEntry(path=f"/Users/u{k}", name=f"u{k}", type=FileType.DIR, size=0, mtime=T0) for k in range(4)]
    for j in range(60):
        size = 100 + j + (day if j % 7 == 0 else 0)  # every 7th file changes every day
        if j == 13 and day == 2:
            continue  # gone for one day
        name = f"{vm}-file{j}.{'xlsx' if j % 3 else 'txt'}"
        entries.append(FileEntry(path=f"/Users/u{j % 4}/{name}", name=name, type=FileType.FILE, size=size,
                                 mtime=T0 + timedelta(minutes=j + day)))
    entries.append(FileEntry(path=f"/vol{volume}.marker", name=f"vol{volume}.marker", type=FileType.FILE,
                             size=volume, mtime=T0))
    entries.append(FileEntry(path="/link", name="link", type=FileType.SYMLINK, size=0, mtime=None,
                             target="/Users"))
    return entries


def _make_source(path: Path) -> tuple[list[RestorePoint], int]:
    store = SqliteCatalogStore(path)
    points: list[RestorePoint] = []
    entries = 0
    for vm in ("web01", "db01", "fs01"):
        pts = _points(vm, 4)
        store.upsert_points(pts)
        order = [0, 1, 3, 2] if vm == "web01" else [0, 1, 2, 3]  # web01: a point indexed out of order
        for day in order:
            for volume in (1, 2):
                entries += store.index_volume(pts[day].id, "scsi0:0", volume, _files(vm, day, volume)).entries
        points += pts
    store.close()
    return points, entries


def _walk(store: CatalogStore, point: str, volume: int, path: str = "/") -> list[FileEntry]:
    out = []
    for entry in store.list_dir(point, "scsi0:0", volume, path):
        out.append(entry)
        if entry.type is FileType.DIR:
            out += _walk(store, point, volume, entry.path)
    return out


def _cli(home: Path, catalog: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VMRESTORE_HOME": str(home), "VMRESTORE_CATALOG": str(catalog)}
    return subprocess.run([sys.executable, "-m", "vmrestore", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_migrate_keeps_every_entry_and_refuses_twice(pg_server: PgServer, tmp_path: Path) -> None:
    source = tmp_path / "catalog.sqlite"
    points, entries = _make_source(source)
    target = pg_server.url(pg_server.create_database("mig"), password=SECRET)  # trust auth ignores it
    home = tmp_path / "home"

    run = _cli(home, source, "catalog", "migrate", "--to", target)  # text mode: progress on stderr
    assert run.returncode == 0, run.stderr
    assert "Copying versions" in run.stderr and "100.0%" in run.stderr
    assert SECRET not in run.stdout + run.stderr

    lite, pg = open_store(source), open_store(target)
    try:
        assert pg.list_repositories() == lite.list_repositories()
        assert pg.list_points() == lite.list_points() and len(pg.list_points()) == len(points) == 12
        walked = 0
        for p in points:
            for volume in (1, 2):
                tree = _walk(pg, p.id, volume)
                assert tree == _walk(lite, p.id, volume), (p.id, volume)
                walked += len(tree)
                assert pg.versions(p.id, "scsi0:0", volume, "/Users/u1/web01-file13.xlsx") == lite.versions(
                    p.id, "scsi0:0", volume, "/Users/u1/web01-file13.xlsx")
        assert walked == entries  # every indexed entry, folder by folder
        for pattern in ("file1", "*.txt", "web01-file1[0-3].*", "marker"):
            assert pg.search(pattern, limit=1000) == lite.search(pattern, limit=1000), pattern
        # The migrated catalog goes on working: a new point indexes into it and extends the old rows.
        new = _points("fs01", 5)[4]
        pg.upsert_points([new])
        stats = pg.index_volume(new.id, "scsi0:0", 1, _files("fs01", 4, 1))
        assert stats.extended > 0 and stats.inserted > 0
    finally:
        lite.close()
        pg.close()

    again = _cli(home, source, "catalog", "migrate", "--to", target, "--json")
    assert again.returncode == 2, again.stderr
    assert json.loads(again.stdout)["error"]["code"] == "invalid_input"
    assert SECRET not in again.stdout + again.stderr
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM points").fetchone() == (13,)

    audit = json.loads(_cli(home, source, "audit", "list", "--json").stdout)
    migrations = [e for e in audit if e["action"] == "catalog_migrate"]
    assert [e["result"] for e in migrations] == ["ok", "failed:invalid_input"]
    assert migrations[0]["detail"]["points"] == 12 and migrations[0]["detail"]["entries"] == entries
    assert all(SECRET not in json.dumps(e) for e in audit)


def test_migrate_json_counts_and_helpdesk_is_refused(pg_server: PgServer, tmp_path: Path) -> None:
    source = tmp_path / "catalog.sqlite"
    points, entries = _make_source(source)
    home = tmp_path / "home"
    out = _cli(home, source, "catalog", "migrate", "--to", pg_server.url(pg_server.create_database("mig")),
               "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"points": len(points), "entries": entries}

    (home / "settings.json").write_text(json.dumps({"role": "helpdesk"}))
    empty = pg_server.url(pg_server.create_database("mig"))
    refused = _cli(home, source, "catalog", "migrate", "--to", empty, "--json")
    assert refused.returncode == 3 and json.loads(refused.stdout)["error"]["code"] == "role_denied"
    with psycopg.connect(empty) as conn:
        assert conn.execute("SELECT to_regclass('public.points')").fetchone() == (None,)
