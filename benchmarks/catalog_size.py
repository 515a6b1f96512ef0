"""Catalog growth with restore points: 30 daily points of one VM (1 % of files change) vs one point.

    .venv/bin/python benchmarks/catalog_size.py [--files 100000] [--points 30] [--change 0.01]

A naive catalog grows ×30; the version-interval design should stay near 1 + 29 × 1 % ≈ ×1.3 in rows
(plus the few new files per point). Prints file sizes (after a checkpoint and VACUUM) and row counts.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog_search import T0, VmFiles

from vmrestore.catalog.sqlite_store import SqliteCatalogStore
from vmrestore.model import RestorePoint


def catalog(path: Path, files: int, points: int, change: float) -> tuple[int, int, int, float]:
    """Build and measure: (bytes, version rows, logical entries, seconds)."""
    started = time.perf_counter()
    store = SqliteCatalogStore(path)
    data = VmFiles("fs01", files, seed=7)
    for i in range(points):
        created = T0 + timedelta(days=i)
        pid = f"nas/fs01/fs01-{created:%Y-%m-%d_%H-%M-%S}"
        store.upsert_points(
            [RestorePoint(id=pid, repo="nas", vm="fs01", created=created, path="/x", status="ok")]
        )
        if i:
            data.advance(change)
        store.index_volume(pid, "scsi0:0", 1, data.entries())
    store.close()
    seconds = time.perf_counter() - started
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        (rows,) = conn.execute("SELECT count(*) FROM versions").fetchone()
        (logical,) = conn.execute("SELECT sum(entries) FROM indexed_volumes").fetchone()
    return path.stat().st_size, rows, logical, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=30)
    ap.add_argument("--change", type=float, default=0.01)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = catalog(Path(tmp) / "one.sqlite", args.files, 1, args.change)
        many = catalog(Path(tmp) / "many.sqlite", args.files, args.points, args.change)
    for label, (size, rows, logical, seconds) in (("1 point", one), (f"{args.points} points", many)):
        print(
            f"{label:>10}: {size / 2**20:8.1f} MiB, {rows:>10,} version rows for {logical:>11,} file entries "
            f"({size / logical:.1f} bytes/entry), built in {seconds:.1f} s"
        )
    print(
        f"ratio {args.points} points / 1 point: size ×{many[0] / one[0]:.2f}, rows ×{many[1] / one[1]:.2f} "
        f"(a catalog without dedup: ×{many[2] / one[2]:.1f})"
    )


if __name__ == "__main__":
    main()
