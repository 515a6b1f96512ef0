"""Search latency of the catalog over a large synthetic index (run on demand, prints figures).

    .venv/bin/python benchmarks/catalog_search.py [--dir DIR] [--vms 5] [--points 20] [--files 100000]
        [--catalog postgresql://...]

With ``--catalog`` the same index is also copied into that (empty) PostgreSQL database with
``catalog migrate``'s copy (once: a database that already holds it is reused) and every query runs
against both backends in the same run.

Builds (once, cached in DIR keyed by the parameters) a catalog through the real ``index_volume`` API:
VMS VMs × POINTS daily restore points × FILES files per point = the number of *file entries* a naive
catalog would hold (defaults: 10 million). Between points 1 % of the files change and a few new log
files appear, as on a file server. Then ~50 substring and glob queries (some with a VM filter or a
date range) run several times each; p50/p95/max latency are printed.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmrestore.catalog import CatalogStore
from vmrestore.catalog.migrate import migrate_sqlite_to_postgres
from vmrestore.catalog.pg_store import PostgresCatalogStore
from vmrestore.catalog.sqlite_store import SqliteCatalogStore
from vmrestore.model import FileEntry, FileType, RestorePoint

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


def _name(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.3:
        return f"{rng.choice(WORDS)}-{rng.choice(WORDS)}_{rng.randint(1, 9999)}.{rng.choice(EXTS)}"
    if pick < 0.55:
        year = rng.randint(2015, 2024)
        return f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {year}.{rng.choice(EXTS)}"
    if pick < 0.75:
        return f"{rng.choice(WORDS)}{rng.randint(1, 400)}.{rng.choice(('dll', 'sys', 'exe', 'mui'))}"
    if pick < 0.9:
        return f"Q{rng.randint(1, 4)}-{rng.choice(WORDS)}-{rng.randint(2019, 2024)}.{rng.choice(EXTS)}"
    return f"{rng.getrandbits(48):012x}.tmp"


def _dirs(rng: random.Random, vm: str, count: int) -> list[str]:
    out = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            out.append(f"/Windows/System32/{rng.choice(WORDS)}{i % 50}")
        elif kind == 1:
            out.append(f"/Users/{rng.choice(USERS)}/Documents/{rng.choice(WORDS)}/{rng.choice(WORDS)}{i}")
        elif kind == 2:
            out.append(f"/Program Files/{rng.choice(WORDS).capitalize()}/{rng.choice(WORDS)}{i % 97}")
        else:
            out.append(f"/Shares/{vm}/{rng.choice(WORDS)}/{rng.randint(2019, 2024)}/{rng.choice(WORDS)}{i}")
    return out


class VmFiles:
    """One VM's file set, mutated point by point: 1 % modified, 0.1 % new files per point."""

    def __init__(self, vm: str, files: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vm = vm
        dirs = _dirs(self.rng, vm, max(1, files // 40))
        self.files: dict[str, tuple[int, int]] = {}
        while len(self.files) < files:
            path = f"{self.rng.choice(dirs)}/{_name(self.rng)}"
            self.files[path] = (self.rng.randint(0, 50_000_000), 1_600_000_000 + self.rng.randint(0, 10**8))
        self.paths = list(self.files)
        self.dirs = dirs

    def advance(self, change: float) -> None:
        for path in self.rng.sample(self.paths, int(len(self.paths) * change)):
            size, mtime = self.files[path]
            self.files[path] = (size + self.rng.randint(1, 5000), mtime + 86400)
        for _ in range(max(1, len(self.paths) // 1000)):
            path = f"{self.rng.choice(self.dirs)}/{_name(self.rng)}"
            if path not in self.files:
                self.files[path] = (self.rng.randint(0, 10**6), 1_700_000_000)
                self.paths.append(path)

    def entries(self) -> Iterator[FileEntry]:
        for path, (size, mtime) in self.files.items():
            yield FileEntry(
                path=path,
                name=path.rsplit("/", 1)[1],
                type=FileType.FILE,
                size=size,
                mtime=datetime.fromtimestamp(mtime, UTC),
            )


def build(path: Path, vms: int, points: int, files: int, change: float) -> tuple[float, int]:
    """Index everything through the public API; returns (seconds, logical entries)."""
    started = time.perf_counter()
    store = SqliteCatalogStore(path)
    total = 0
    try:
        for v in range(vms):
            vm = f"srv{v:02d}"
            data = VmFiles(vm, files, seed=v)
            for i in range(points):
                created = T0 + timedelta(days=i)
                pid = f"nas/{vm}/{vm}-{created:%Y-%m-%d_%H-%M-%S}"
                store.upsert_points(
                    [RestorePoint(id=pid, repo="nas", vm=vm, created=created, path="/x", status="ok")]
                )
                if i:
                    data.advance(change)
                stats = store.index_volume(pid, "scsi0:0", 1, data.entries())
                total += stats.entries
                print(
                    f"  {pid}: {stats.entries} entries, {stats.inserted} new rows, {stats.seconds:.1f} s",
                    file=sys.stderr,
                )
    finally:
        store.close()
    return time.perf_counter() - started, total


QUERIES: list[tuple[str, dict[str, object]]] = [
    *[(w, {}) for w in ("report", "budget", "invoice", "q3-", "payroll", "kernel", "london", "tmp", "xlsx")],
    *[
        (w, {})
        for w in ("forecast_", "minutes 2021", "q3-report", "audit-policy", "Offboarding", "ZZZnothing")
    ],
    *[(w, {}) for w in ("alpha", "roadmap", "shipment", "notes-", "customer", "vendor", ".msg", "draft")],
    *[(g, {}) for g in ("*.xlsx", "Q3-*.xlsx", "q?-report-*", "*report*.pdf", "[ab]*.dll", "*.tmp")],
    *[(g, {}) for g in ("budget*2023.*", "*-final_*.docx", "kernel??.sys", "payroll*", "*.MSG", "z*")],
    *[(w, {"vm": "srv01"}) for w in ("report", "q3-report", "*.xlsx", "contract", "invoice-", "*.log")],
    *[(w, {"vm": "srv03"}) for w in ("summary", "Q4-*", "europe", "backup")],
    *[(w, {"since": T0 + timedelta(days=3), "until": T0 + timedelta(days=6)}) for w in ("report", "*.pdf")],
    *[(w, {"since": T0 + timedelta(days=10)}) for w in ("invoice", "q1-", "*.csv", "tokyo")],
    ("qa", {}),
    ("ex", {"vm": "srv02"}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "vmrestore-bench"))
    ap.add_argument("--vms", type=int, default=5)
    ap.add_argument("--points", type=int, default=20)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--change", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--catalog", help="also measure this PostgreSQL catalog (postgresql://...)")
    args = ap.parse_args()

    path = Path(args.dir) / f"search-{args.vms}x{args.points}x{args.files}-{args.change}.sqlite"
    if not path.exists():
        tmp = path.with_suffix(".building")
        for stale in Path(args.dir).glob(tmp.name + "*"):
            stale.unlink()
        print(f"building {path} ...", file=sys.stderr)
        seconds, total = build(tmp, args.vms, args.points, args.files, args.change)
        tmp.rename(path)
        print(f"build: {total:,} file entries indexed in {seconds:.0f} s ({total / seconds:,.0f} entries/s)")
    with sqlite3.connect(path) as conn:
        rows = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("versions", "names", "paths")
        }
        (logical,) = conn.execute("SELECT sum(entries) FROM indexed_volumes").fetchone()
    print(f"catalog: {path} {path.stat().st_size / 2**20:,.0f} MiB; {logical:,} file entries in ", end="")
    print(f"{rows['versions']:,} version rows, {rows['paths']:,} paths, {rows['names']:,} distinct names")

    print(f"machine load (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    stores: list[tuple[str, CatalogStore]] = [("sqlite", SqliteCatalogStore(path))]
    if args.catalog:
        pg = PostgresCatalogStore(args.catalog)
        if not pg.list_points():
            started = time.perf_counter()
            report = migrate_sqlite_to_postgres(
                str(path), args.catalog, lambda f, text: print(f"  {f * 100:5.1f}% {text}", file=sys.stderr))
            print(f"copied to PostgreSQL: {report.points} points in {time.perf_counter() - started:.0f} s")
        stores.append(("postgresql", pg))
    for label, store in stores:
        _measure(label, store, args.repeat)
        store.close()
        _measure_cold(label, str(path) if label == "sqlite" else args.catalog)
    print(f"machine load (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


#: One of each kind a helpdesk types: substring, exact name, glob, a short run (no trigram), no match.
COLD_QUERIES = ("report", "q3-report", "kernel12.sys", "*.xlsx", "kernel??.sys", "*report*.pdf", "qa", "ZZZnothing")
_COLD_CODE = (
    "import sys, time\n"
    "from vmrestore.catalog import open_store\n"
    "store = open_store(sys.argv[1])\n"
    "t = time.perf_counter()\n"
    "store.search(sys.argv[2])\n"
    "print((time.perf_counter() - t) * 1000)\n"
    "store.close()\n"
)


def _measure_cold(label: str, location: str) -> None:
    """The first search of a new process (what an operator waits for after starting the app): the store
    is opened first (connection, migrations checked), then one query is timed; one process per query."""
    latencies = []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for pattern in COLD_QUERIES:
        out = subprocess.run([sys.executable, "-c", _COLD_CODE, location, pattern], check=True,
                             capture_output=True, text=True, env=env)
        latencies.append((float(out.stdout.strip()), pattern))
    values = sorted(ms for ms, _ in latencies)
    worst_ms, worst = max(latencies)
    print(f"{label} cold (first search of a new process): {len(values)} queries: median "
          f"{statistics.median(values):.1f} ms, max {worst_ms:.1f} ms ({worst!r})")


def _measure(label: str, store: CatalogStore, repeat: int) -> None:
    latencies: list[float] = []
    worst: list[tuple[float, str, int]] = []
    for pattern, kwargs in QUERIES:
        store.search(pattern, **kwargs)  # type: ignore[arg-type]  # warm the page cache once
        for _ in range(repeat):
            t = time.perf_counter()
            hits = store.search(pattern, **kwargs)  # type: ignore[arg-type]
            latencies.append((time.perf_counter() - t) * 1000)
        worst.append((latencies[-1], f"{pattern!r} {kwargs or ''}", len(hits)))
    qs = statistics.quantiles(latencies, n=100)
    print(
        f"{label} search: {len(QUERIES)} queries × {repeat}: p50 {qs[49]:.1f} ms, p95 {qs[94]:.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )
    for ms, text, n in sorted(worst, reverse=True)[:5]:
        print(f"  slowest: {ms:7.1f} ms  {n:3d} hits  {text}")

if __name__ == "__main__":
    main()
