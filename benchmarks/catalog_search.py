"""Search latency on a catalog of 10 million *stored* file-version rows, SQLite and PostgreSQL side by side.

    .venv/bin/python benchmarks/catalog_search.py [--dir DIR] [--vms 50] [--points 30] [--os-files 100000]
        [--data-files 70000] [--catalog postgresql://...] [--rounds 5]

The catalog (``catalog_bulk``: a fleet of VMs, each with a shared OS image and its own documents, daily
restore points, a small share of files changing between points) is written once into the product's own
schema and cached in DIR keyed by its parameters; the printout counts the rows of ``versions`` in each
database. With no ``--catalog`` the benchmark keeps its own PostgreSQL cluster in DIR (the test harness's
``tests/bench/postgres_fixtures.py``) and copies the catalog into it with the product's migration
(``catalog migrate``'s COPY), the secondary indexes dropped for the load and re-created from the
definitions the migrations made.

For each query kind (substring, short substring of 1-2 characters, glob, exact name) and each call (the
first page of 100 hits, the total hit count): p50 / p95 / max over every query of the kind, warm (the
same process, SQLite and PostgreSQL interleaved round by round) and cold (a new process per query: the
store opened, then its first query timed; the OS page cache and the server's buffers stay warm). Wall
time is printed beside CPU time (this process plus, for PostgreSQL, the server backend's), because the
machine may be shared; the goal is p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.catalog_bulk import Shape, build_sqlite, derive_name_indexes
from vmrestore.catalog import COUNT_CAP, CatalogStore, HitCount
from vmrestore.catalog.pg_store import PostgresCatalogStore
from vmrestore.catalog.sqlite_schema import SCHEMA
from vmrestore.catalog.sqlite_store import SqliteCatalogStore

GOAL_MS = 50.0
SUBSTRING = ("report", "budget", "invoice", "q3-", "payroll", "kernel", "london", "xlsx", "minutes 2021",
             "q3-report", "audit-policy", "offboarding", "zzznothing", "roadmap", "shipment", "notes-", "customer",
             ".msg", "draft", "winsxs", "svc12", "amd64")
SHORT = ("qa", "ex", "7z", "q", "z", "ä", ".c", "_9", "x", "-1", "ms", "db")
GLOB = ("*.xlsx", "Q3-*.xlsx", "q?-report-*", "*report*.pdf", "[ab]*.dll", "*.tmp", "budget*2023.*",
        "*-final_*.docx", "kernel??.sys", "payroll*", "*.MSG", "z*", "img_00*", "*.c", "a?.txt", "desktop.*")
#: Names typed whole: common everywhere, and names picked from the catalog itself (``_exact_names``).
EXACT_COMMON = ("desktop.ini", "Thumbs.db", "README.txt", "IMG_0042.JPG", "notes.txt")
#: A VM filter and a date window on a few of each kind (what the search form offers).
FILTERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("report", {"vm": "srv07"}), ("*.xlsx", {"vm": "srv11"}), ("q3-report", {"vm": "srv03"}),
    ("invoice", {"since": "2024-06-10", "until": "2024-06-12"}), ("*.pdf", {"since": "2024-06-25"}),
    ("ex", {"vm": "srv02"}),
)


def _cache_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    root = os.environ.get("VMRESTORE_BENCH_CACHE") or str(Path.home() / ".cache" / "vmrestore-bench")
    return Path(root) / "catalog-search"


def sqlite_catalog(cache: Path, shape: Shape) -> tuple[Path, str]:
    """The catalog file for ``shape`` (built or reused) and a line saying how it was made."""
    base = cache / f"base-{shape.key()}.sqlite"
    note = "reused"
    if not base.exists():
        tmp = base.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        print(f"building {base} ...", file=sys.stderr)
        started = time.perf_counter()
        timings = build_sqlite(tmp, shape, derive=False)
        tmp.rename(base)
        note = (f"built in {time.perf_counter() - started:.0f} s "
                f"({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})")
    # The product's derived name indexes: one finished copy per definition of them in the schema.
    fts = "\n".join(line for line in SCHEMA.splitlines() if "names_fts" in line or "tokenize" in line)
    schema = hashlib.sha256(fts.encode()).hexdigest()[:10]
    final = cache / f"catalog-{shape.key()}-{schema}.sqlite"
    if not final.exists():
        tmp = final.with_suffix(".building")
        shutil.copyfile(base, tmp)
        seconds = derive_name_indexes(tmp)
        tmp.rename(final)
        note += f"; name indexes derived by the product in {seconds:.0f} s"
    return final, note


def _pg_server(cache: Path, shape: Shape) -> tuple[Any, str]:
    from tests.bench.postgres_fixtures import start_server

    root = cache / f"pg-{hashlib.sha256(shape.key().encode()).hexdigest()[:8]}"  # short: a socket path
    server = start_server(str(root), settings=("shared_buffers=1GB", "maintenance_work_mem=512MB",
                                               "max_wal_size=4GB", "checkpoint_timeout=30min"))
    if "catalog" not in server.psql("SELECT datname FROM pg_database").split():
        server.psql('CREATE DATABASE "catalog"')
    return server, server.url("catalog")


def pg_catalog(url: str, source: Path) -> str:
    """Fill the PostgreSQL catalog at ``url`` from ``source`` unless it already holds it; how it was made."""
    from vmrestore.catalog.migrate import migrate_sqlite_to_postgres

    PostgresCatalogStore(url).close()  # the product's migrations
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        row = pg.execute("SELECT count(*) FROM versions").fetchone()
        if row and row[0]:
            return "reused"
        started = time.perf_counter()
        # The secondary indexes go for the load and come back from the definitions the migrations made.
        indexes = pg.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
            "JOIN pg_index x ON x.indexrelid = c.oid WHERE i.schemaname = 'public' AND NOT x.indisunique "
            "AND i.tablename IN ('versions', 'paths', 'names', 'dirs', 'indexed_volumes')").fetchall()
        for name, _definition in indexes:
            pg.execute(f"DROP INDEX {name}")
    migrate_sqlite_to_postgres(str(source), url)
    copied = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as pg:
        t = time.perf_counter()
        for _name, definition in indexes:
            pg.execute(definition)
        built = time.perf_counter() - t
        t = time.perf_counter()
        pg.execute("VACUUM (ANALYZE)")  # what autovacuum leaves a settled table with: visibility map, statistics
        vacuumed = time.perf_counter() - t
    return (f"copied with the product's migration in {copied:.0f} s, {len(indexes)} indexes re-created in "
            f"{built:.0f} s, VACUUM ANALYZE {vacuumed:.0f} s")


def _exact_names(path: Path, count: int = 10) -> tuple[str, ...]:
    """Names of files in the catalog, spread over its name ids (deterministic)."""
    with sqlite3.connect(path) as conn:
        (top,) = conn.execute("SELECT max(id) FROM names").fetchone()
        step = max(1, top // count)
        rows = conn.execute("SELECT name FROM names WHERE id % ? = 7 ORDER BY id LIMIT ?", (step, count)).fetchall()
    return EXACT_COMMON + tuple(r[0] for r in rows)


def _kwargs(raw: dict[str, Any]) -> dict[str, Any]:
    from datetime import UTC, datetime

    out = dict(raw)
    for key in ("since", "until"):
        if key in out:
            out[key] = datetime.fromisoformat(out[key]).replace(tzinfo=UTC)
    return out


class Backend:
    """One store, and how much CPU its queries cost (this process, plus the server backends for PostgreSQL)."""

    def __init__(self, label: str, store: CatalogStore, location: str, server_pids: Callable[[], list[int]]):
        self.label, self.store, self.location, self._pids = label, store, location, server_pids

    def cpu(self) -> float:
        total = time.process_time()
        for pid in self._pids():
            total += _task_cpu(pid)
        return total


def _task_cpu(pid: int) -> float:
    """Seconds on CPU of a process, to the nanosecond (``schedstat``; ``stat`` counts 10 ms ticks)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        return 0.0


def _pg_backend_pids(url: str) -> Callable[[], list[int]]:
    import psycopg

    def pids() -> list[int]:
        with psycopg.connect(url, autocommit=True) as conn:
            return [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]

    cached: list[int] = []

    def get() -> list[int]:
        if not cached:
            cached.extend(pids())
        return cached

    return get


Sample = tuple[float, float]  # (wall ms, cpu ms)


def measure_warm(backends: list[Backend], queries: dict[str, list[tuple[str, dict[str, Any]]]], rounds: int
                 ) -> dict[tuple[str, str, str], list[tuple[float, float, str]]]:
    """(backend, kind, call) -> [(wall ms, cpu ms, query)], SQLite and PostgreSQL interleaved per query."""
    out: dict[tuple[str, str, str], list[tuple[float, float, str]]] = {}
    for b in backends:  # one untimed pass: the first query of a process is the cold figure, measured apart
        for items in queries.values():
            for pattern, raw in items:
                b.store.search(pattern, **_kwargs(raw))
                b.store.count_hits(pattern, **_kwargs(raw))
    for _ in range(rounds):
        for kind, items in queries.items():
            for pattern, raw in items:
                kwargs = _kwargs(raw)
                for b in backends:
                    for call in ("first page", "total"):
                        c0 = b.cpu()
                        t0 = time.perf_counter()
                        if call == "first page":
                            b.store.search(pattern, limit=100, **kwargs)
                        else:
                            b.store.count_hits(pattern, **kwargs)
                        wall = (time.perf_counter() - t0) * 1000
                        cpu = (b.cpu() - c0) * 1000
                        out.setdefault((b.label, kind, call), []).append((wall, cpu, f"{pattern!r}{raw or ''}"))
    return out


_COLD_CODE = (
    "import sys, time, json\n"
    "from vmrestore.catalog import open_store\n"
    "store = open_store(sys.argv[1])\n"
    "kwargs = json.loads(sys.argv[4])\n"
    "from datetime import UTC, datetime\n"
    "for k in ('since', 'until'):\n"
    "    if k in kwargs: kwargs[k] = datetime.fromisoformat(kwargs[k]).replace(tzinfo=UTC)\n"
    "pool = getattr(store, '_pool', None)\n"
    "def server_cpu():  # the PostgreSQL backend serving this process (its only pooled connection)\n"
    "    if pool is None: return 0.0\n"
    "    with pool.connection() as conn: pid = conn.execute('SELECT pg_backend_pid()').fetchone()[0]\n"
    "    return int(open(f'/proc/{pid}/schedstat').read().split()[0]) / 1e9\n"
    "s0 = server_cpu()\n"
    "c, t = time.process_time(), time.perf_counter()\n"
    "store.search(sys.argv[2], **kwargs) if sys.argv[3] == 'first page' else store.count_hits(sys.argv[2], **kwargs)\n"
    "wall, cpu = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000\n"
    "print(wall, cpu + (server_cpu() - s0) * 1000)\n"
    "store.close()\n"
)


def measure_cold(backends: list[Backend], queries: dict[str, list[tuple[str, dict[str, Any]]]], per_kind: int
                 ) -> dict[tuple[str, str, str], list[tuple[float, float, str]]]:
    """A new process per query (store opened, first query timed): ``per_kind`` queries of each kind."""
    import json

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out: dict[tuple[str, str, str], list[tuple[float, float, str]]] = {}
    for kind, items in queries.items():
        for pattern, raw in items[:: max(1, len(items) // per_kind)][:per_kind]:
            for b in backends:
                for call in ("first page", "total"):
                    argv = [sys.executable, "-c", _COLD_CODE, b.location, pattern, call, json.dumps(raw)]
                    done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
                    wall, cpu = (float(x) for x in done.stdout.split())
                    out.setdefault((b.label, kind, call), []).append((wall, cpu, f"{pattern!r}{raw or ''}"))
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def report(title: str, results: dict[tuple[str, str, str], list[tuple[float, float, str]]], kinds: list[str],
           labels: list[str]) -> None:
    print(f"\n{title} (ms; wall p50 / p95 / max, then CPU p50 / p95; goal: p95 < {GOAL_MS:.0f} ms)")
    print(f"  {'kind':<10} {'call':<11}" + "".join(f" | {label:^42}" for label in labels))
    for kind in kinds:
        for call in ("first page", "total"):
            line = f"  {kind:<10} {call:<11}"
            for label in labels:
                samples = results.get((label, kind, call), [])
                if not samples:
                    line += f" | {'-':^42}"
                    continue
                wall = [s[0] for s in samples]
                cpu = [s[1] for s in samples]
                ok = "ok " if _pct(wall, 0.95) < GOAL_MS or _pct(cpu, 0.95) < GOAL_MS else "NOT"
                line += (f" | {_pct(wall, .5):6.1f} {_pct(wall, .95):6.1f} {max(wall):7.1f}  cpu {_pct(cpu, .5):5.1f} "
                         f"{_pct(cpu, .95):6.1f} {ok}")
            print(line)
    worst = sorted(((s[0], s[1], label, kind, call, s[2]) for (label, kind, call), ss in results.items() for s in ss),
                   reverse=True)[:6]
    for wall, cpu, label, kind, call, query in worst:
        print(f"    slowest: {wall:7.1f} ms wall {cpu:7.1f} ms cpu  {label} {kind} {call} {query}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", help="cache folder (default: $VMRESTORE_BENCH_CACHE/catalog-search)")
    defaults = Shape()
    ap.add_argument("--vms", type=int, default=defaults.vms)
    ap.add_argument("--points", type=int, default=defaults.points)
    ap.add_argument("--os-files", type=int, default=defaults.os_files)
    ap.add_argument("--data-files", type=int, default=defaults.data_files)
    ap.add_argument("--rounds", type=int, default=5, help="warm rounds (every query, both backends, each round)")
    ap.add_argument("--cold", type=int, default=4, help="cold processes per query kind, call and backend")
    ap.add_argument("--catalog", help="a PostgreSQL catalog to use (filled from the SQLite one when empty)")
    ap.add_argument("--no-postgresql", action="store_true", help="measure SQLite only")
    args = ap.parse_args()
    shape = Shape(vms=args.vms, points=args.points, os_files=args.os_files, data_files=args.data_files)
    cache = _cache_dir(args.dir)
    cache.mkdir(parents=True, exist_ok=True)

    path, how = sqlite_catalog(cache, shape)
    print(f"fleet: {shape}")
    print(f"sqlite catalog: {path} ({how})")
    with sqlite3.connect(path) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("versions", "names", "paths", "dirs", "lineages", "points")}
        (logical,) = conn.execute("SELECT sum(entries) FROM indexed_volumes").fetchone()
    print(f"  {counts['versions']:,} stored file-version rows (SELECT count(*) FROM versions) = {logical:,} file "
          f"entries over {counts['points']:,} restore points; {counts['paths']:,} paths, {counts['names']:,} distinct "
          f"names, {counts['dirs']:,} folders, {counts['lineages']:,} volumes; {path.stat().st_size / 2**30:.2f} GiB")

    backends = [Backend("sqlite", SqliteCatalogStore(path), str(path), lambda: [])]
    server = None
    if not args.no_postgresql:
        if args.catalog:
            url = args.catalog
        else:
            server, url = _pg_server(cache, shape)
        how = pg_catalog(url, path)
        import psycopg

        with psycopg.connect(url) as pg:
            rows = pg.execute("SELECT count(*) FROM versions").fetchone()
            size = pg.execute("SELECT pg_database_size(current_database())").fetchone()
            version = pg.execute("SHOW server_version").fetchone()
            buffers = pg.execute("SHOW shared_buffers").fetchone()
        assert rows and size and version and buffers
        print(f"postgresql catalog: {'--catalog' if args.catalog else 'own cluster ' + server.root} ({how})")
        print(f"  {rows[0]:,} stored file-version rows (SELECT count(*) FROM versions); database "
              f"{size[0] / 2**30:.2f} GiB; PostgreSQL {version[0]}, shared_buffers {buffers[0]}")
        backends.append(Backend("postgresql", PostgresCatalogStore(url), url, _pg_backend_pids(url)))

    queries: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "substring": [(q, {}) for q in SUBSTRING],
        "short": [(q, {}) for q in SHORT],
        "glob": [(q, {}) for q in GLOB],
        "exact name": [(q, {}) for q in _exact_names(path)],
        "filtered": list(FILTERS),
    }
    print(f"queries: {', '.join(f'{k} {len(v)}' for k, v in queries.items())}; first page = search(limit=100), "
          f"total = count_hits(cap={COUNT_CAP:,}: exact up to the cap, '{HitCount(COUNT_CAP, True).text()}' beyond)")
    sample = [(q, backends[0].store.count_hits(q)) for q in ("report", "q3-report", "qa", "*.tmp", "desktop.ini")]
    print("  totals, e.g.: " + ", ".join(f"{q!r} {c.text()}" for q, c in sample))
    print(f"machine load (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    labels = [b.label for b in backends]
    kinds = list(queries)
    warm = measure_warm(backends, queries, args.rounds)
    report(f"warm: {args.rounds} rounds, backends interleaved per query", warm, kinds, labels)
    cold = measure_cold(backends, queries, args.cold)
    report(f"cold: a new process per query ({args.cold} per kind), page cache and server buffers warm", cold, kinds,
           labels)
    print(f"\nmachine load (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for b in backends:
        b.store.close()
    if server is not None:
        server.stop()


if __name__ == "__main__":
    main()
