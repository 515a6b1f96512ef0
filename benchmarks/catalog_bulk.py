"""A synthetic fleet's catalog, written straight into the product's own schema (for ``catalog_search``).

Indexing 10 million *stored* file-version rows through ``index_volume`` would take the better part of an
hour, so this writes the rows the dedup model would have produced (``sqlite_schema``: one row per distinct
state of a path in a lineage, spanning the points that hold it) with bulk inserts. The schema, its
indexes and the FTS table are the product's own: the store creates them, this module drops the secondary
indexes for the load and re-creates them from the definitions the database itself recorded, then lets
the product derive its name indexes (``SqliteCatalogStore.rebuild_name_indexes``).

The fleet: VMS VMs, each with an OS volume (a shared Windows image: the same paths in every VM, names
repeating across WinSxS folders) and a data volume (users' and shares' documents, photos, temp files),
POINTS daily restore points; between points a small share of files change and a few appear. Every row is
a distinct file version, so ``SELECT count(*) FROM versions`` is the figure the benchmark reports.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmrestore.catalog.sqlite_store import SqliteCatalogStore

T0 = datetime(2024, 6, 1, 22, 0, 0, tzinfo=UTC)
_WORDS_TEXT = (
    "report budget invoice contract minutes agenda draft final review plan summary forecast sales "
    "marketing payroll customer vendor project design spec notes backup archive export import data "
    "config settings install setup update patch driver service kernel network storage security audit "
    "policy template letter memo presentation schedule roadmap quarterly annual monthly weekly daily "
    "alpha beta gamma delta north south east west europe america asia london paris berlin tokyo "
    "finance legal hr it ops support training onboarding offboarding inventory order shipment receipt"
)
_EXTS_TEXT = "docx xlsx pptx pdf txt csv log xml json dll exe sys ini dat png jpg msg zip"
_USERS_TEXT = "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert"
WORDS, EXTS, USERS = (tuple(t.split()) for t in (_WORDS_TEXT, _EXTS_TEXT, _USERS_TEXT))
_SYS_EXTS = ("dll", "sys", "exe", "mui", "cat", "manifest", "inf", "dat")


@dataclass(frozen=True)
class Shape:
    vms: int = 50
    points: int = 30
    os_files: int = 100_000  # per VM, the same image everywhere
    data_files: int = 70_000  # per VM, its own documents
    os_change: float = 0.002  # share of OS files updated per point
    data_change: float = 0.01  # share of data files modified per point
    data_new: float = 0.001  # new data files per point, as a share
    seed: int = 1

    def key(self) -> str:
        return (f"v2-{self.vms}vm-{self.points}pt-{self.os_files}os-{self.data_files}data-{self.os_change}-"
                f"{self.data_change}-{self.data_new}-s{self.seed}")


def _os_image(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(dir, name) of a Windows-like OS volume: system folders, many WinSxS folders sharing file names."""
    pool = [f"{rng.choice(WORDS)}{rng.choice(('', 'svc', 'core', 'api', 'ui', 'host'))}{rng.randint(1, 300)}"
            f".{rng.choice(_SYS_EXTS)}" for _ in range(max(100, count // 4))]
    out: set[tuple[str, str]] = set()
    while len(out) < count:
        r = rng.random()
        name = rng.choice(pool)
        if r < 0.15:
            folder = "/Windows/System32"
        elif r < 0.22:
            folder = "/Windows/SysWOW64"
        elif r < 0.75:
            comp = rng.randint(0, count // 10)
            folder = (f"/Windows/WinSxS/amd64_microsoft-windows-{WORDS[comp % len(WORDS)]}-{comp}"
                      f"_31bf3856ad364e35_10.0.17763.{comp % 5000}_none_{comp * 2654435761 % 2**32:08x}")
        elif r < 0.9:
            folder = f"/Program Files/{rng.choice(WORDS).capitalize()}/{rng.choice(WORDS)}{rng.randint(1, 40)}"
        else:
            folder = f"/Windows/Installer/{{{rng.getrandbits(64):016X}}}"
            name = f"{rng.getrandbits(32):08x}.msi" if rng.random() < 0.5 else name
        out.add((folder, name))
    return sorted(out)


def _data_name(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.3:
        return f"{rng.choice(WORDS)}-{rng.choice(WORDS)}_{rng.randint(1, 999)}.{rng.choice(EXTS)}"
    if pick < 0.55:
        return f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {rng.randint(2015, 2024)}.{rng.choice(EXTS)}"
    if pick < 0.7:
        return f"IMG_{rng.randint(0, 9999):04d}.JPG"
    if pick < 0.85:
        return f"Q{rng.randint(1, 4)}-{rng.choice(WORDS)}-{rng.randint(2019, 2024)}.{rng.choice(EXTS)}"
    if pick < 0.95:
        return f"{rng.getrandbits(48):012x}.tmp"
    return rng.choice(("desktop.ini", "Thumbs.db", "~$budget.xlsx", "README.txt", "notes.txt", "a.txt", "x"))


def _data_dirs(rng: random.Random, vm: str, count: int) -> list[str]:
    out = []
    for i in range(count):
        if i % 2:
            out.append(f"/Users/{rng.choice(USERS)}/Documents/{rng.choice(WORDS)}/{rng.choice(WORDS)}{i}")
        else:
            out.append(f"/Shares/{vm}/{rng.choice(WORDS)}/{rng.randint(2019, 2024)}/{rng.choice(WORDS)}{i}")
    return out


class Ids:
    """Interned dirs, names and paths, with the rows still to write."""

    def __init__(self) -> None:
        self.dirs: dict[str, int] = {}
        self.names: dict[str, int] = {}
        self.paths: dict[tuple[int, int], int] = {}
        self.new_dirs: list[tuple[int, str]] = []
        self.new_names: list[tuple[int, str, str]] = []
        self.new_paths: list[tuple[int, int, int]] = []

    def path(self, folder: str, name: str) -> int:
        d = self.dirs.get(folder)
        if d is None:
            d = self.dirs[folder] = len(self.dirs) + 1
            self.new_dirs.append((d, folder))
        n = self.names.get(name)
        if n is None:
            n = self.names[name] = len(self.names) + 1
            self.new_names.append((n, name, name.lower()))
        p = self.paths.get((d, n))
        if p is None:
            p = self.paths[(d, n)] = len(self.paths) + 1
            self.new_paths.append((p, d, n))
        return p


def _seqs(points: int) -> list[int]:
    return [int((T0 + timedelta(days=i)).timestamp()) for i in range(points)]


def lineage_rows(
    rng: random.Random, files: list[int], seqs: list[int], change: float, new: float, more: Iterator[int] | None
) -> Iterator[tuple[int, int | None, int | None, int, int]]:
    """(path_id, size, mtime_us, first_seq, last_seq) of one volume over every point; files change in place."""
    n = len(files)
    size = [rng.randint(0, 50_000_000) for _ in range(n)]
    mtime = [(1_600_000_000 + rng.randint(0, 10**8)) * 1_000_000 for _ in range(n)]
    first = [seqs[0]] * n
    paths = list(files)
    for i in range(1, len(seqs)):
        for k in rng.sample(range(len(paths)), int(len(paths) * change)):
            yield paths[k], size[k], mtime[k], first[k], seqs[i - 1]
            size[k] += rng.randint(1, 5000)
            mtime[k] = seqs[i] * 1_000_000 - rng.randint(0, 86400) * 1_000_000
            first[k] = seqs[i]
        if more is not None:
            for _ in range(int(len(paths) * new)):
                paths.append(next(more))
                size.append(rng.randint(0, 10**6))
                mtime.append(seqs[i] * 1_000_000)
                first.append(seqs[i])
    for k in range(len(paths)):
        yield paths[k], size[k], mtime[k], first[k], seqs[-1]


def build_sqlite(path: Path, shape: Shape, log: bool = True, derive: bool = True) -> dict[str, float]:
    """Write the fleet into a new catalog at ``path``; returns timings (seconds) by phase."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    SqliteCatalogStore(path).close()  # the product's schema, exactly as the app creates it
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    tables = ("versions", "paths", "names", "dirs", "indexed_volumes", "points", "lineages")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
        f"({','.join('?' * len(tables))})", tables).fetchall()
    for name, _sql in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.execute("BEGIN")
    rng = random.Random(shape.seed)
    ids = Ids()
    os_image = [ids.path(d, n) for d, n in _os_image(rng, shape.os_files)]
    seqs = _seqs(shape.points)
    conn.execute("INSERT INTO repositories VALUES ('nas', '/srv/backup', 'nas:/export/backup')")
    version_id = 0
    for v in range(shape.vms):
        vm = f"srv{v:02d}"
        vrng = random.Random(shape.seed * 1000 + v)
        points = []
        for seq in seqs:
            created = datetime.fromtimestamp(seq, UTC)
            pid = f"nas/{vm}/{vm}-{created:%Y-%m-%d_%H-%M-%S}"
            points.append(pid)
            conn.execute("INSERT INTO points (id, repo, vm, created_us, seq, path, status, browsable, size, disks) "
                         "VALUES (?, 'nas', ?, ?, ?, ?, 'ok', 1, 0, '[]')",
                         (pid, vm, seq * 1_000_000, seq, f"/srv/backup/{vm}/{pid.rsplit('/', 1)[1]}"))
        dirs = _data_dirs(vrng, vm, max(1, shape.data_files // 40))

        def data_paths(vrng: random.Random = vrng, dirs: list[str] = dirs) -> Iterator[int]:
            seen: set[int] = set()
            while True:
                p = ids.path(vrng.choice(dirs), _data_name(vrng))
                if p not in seen:
                    seen.add(p)
                    yield p

        more = data_paths()
        data = [next(more) for _ in range(shape.data_files)]
        for volume, files, change, new, extra in ((1, os_image, shape.os_change, 0.0, None),
                                                  (2, data, shape.data_change, shape.data_new, more)):
            lineage = conn.execute("INSERT INTO lineages (vm, disk_key, volume_index) VALUES (?, 'scsi0:0', ?)",
                                   (vm, volume)).lastrowid
            rows = []
            counts = dict.fromkeys(seqs, 0)
            for path_id, size, mtime_us, first, last in lineage_rows(vrng, files, seqs, change, new, extra):
                version_id += 1
                rows.append((version_id, lineage, path_id, size, mtime_us, first, last))
            for _vid, _l, _p, _s, _m, first, _last in rows:
                counts[first] += 1
            alive = 0
            ends = dict.fromkeys(seqs, 0)
            for row in rows:
                ends[row[6]] += 1
            for i, seq in enumerate(seqs):  # files present at a point: started by then, not ended before it
                alive += counts[seq]
                if i:
                    alive -= ends[seqs[i - 1]]
                conn.execute("INSERT INTO indexed_volumes VALUES (?, 'scsi0:0', ?, ?, ?, ?, ?)",
                             (points[i], volume, lineage, seq, alive, (seq + 3600) * 1_000_000))
            conn.executemany("INSERT INTO versions (id, lineage_id, path_id, type, size, mtime_us, target, first_seq, "
                             "last_seq) VALUES (?, ?, ?, 0, ?, ?, NULL, ?, ?)", rows)
        if log:
            print(f"  {vm}: {version_id:,} version rows, {len(ids.names):,} names so far "
                  f"({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    # In the order of their unique keys: appends to those b-trees instead of millions of random inserts.
    conn.executemany("INSERT INTO dirs (id, path) VALUES (?, ?)", sorted(ids.new_dirs, key=lambda r: r[1]))
    conn.executemany("INSERT INTO names (id, name, lname) VALUES (?, ?, ?)",
                     sorted(ids.new_names, key=lambda r: r[1]))
    conn.executemany("INSERT INTO paths (id, dir_id, name_id) VALUES (?, ?, ?)",
                     sorted(ids.new_paths, key=lambda r: r[1:]))
    conn.execute("COMMIT")
    timings["rows"] = time.perf_counter() - t
    t = time.perf_counter()
    for _name, sql in indexes:
        conn.execute(sql)
    timings["indexes"] = time.perf_counter() - t
    conn.close()
    if derive:
        timings["name indexes"] = derive_name_indexes(path)
    return timings


def derive_name_indexes(path: Path) -> float:
    """The product derives its name indexes from ``names`` (trigram FTS, short-pattern grams)."""
    t = time.perf_counter()
    store = SqliteCatalogStore(path)
    try:
        store.rebuild_name_indexes()
    finally:
        store.close()
    return time.perf_counter() - t
