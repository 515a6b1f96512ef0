"""Copy a workstation's SQLite catalog into a shared PostgreSQL catalog (``catalog migrate --to …``).

The two backends share their tables and columns (``sqlite_schema``, ``pg_schema``), so the migration
copies rows, ids included, table by table with ``COPY``: the dedup intervals, the interned names and
every indexed volume arrive exactly as they were, with no disk read again. It runs in one PostgreSQL
transaction: a failure or a cancel leaves the target as it was, never half a catalog. The target must
be empty (a team catalog already in use is not merged into; index it from its repositories instead),
and afterwards every table's row count is read back and compared.

The SQLite file is opened read-only: the local catalog stays usable (and can be migrated again).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from vmrestore.catalog.pg_schema import LOCK_POINTS, LOCK_SPACE
from vmrestore.catalog.pg_store import PostgresCatalogStore
from vmrestore.catalog.sqlite_store import SqliteCatalogStore
from vmrestore.errors import Cancelled, InvalidInput, NotFound, VmrestoreError

#: Parents before children; the columns both schemas have, in one order.
TABLES: tuple[tuple[str, str], ...] = (
    ("repositories", "name, path, nfs"),
    ("points", "id, repo, vm, created_us, seq, path, status, browsable, size, disks, reason"),
    ("lineages", "id, vm, disk_key, volume_index"),
    ("indexed_volumes", "point_id, disk_key, volume_index, lineage_id, seq, entries, indexed_us"),
    ("dirs", "id, path"),
    ("names", "id, name, lname"),
    ("paths", "id, dir_id, name_id"),
    ("versions", "id, lineage_id, path_id, type, size, mtime_us, target, first_seq, last_seq"),
)
_IDENTITY_TABLES = ("lineages", "dirs", "names", "paths", "versions")
CHUNK = 20_000

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class MigrationReport:
    """``points``: restore points copied; ``entries``: indexed file entries (the sum over indexed volumes)."""

    points: int
    entries: int
    rows: dict[str, int] = field(default_factory=dict)


def migrate_sqlite_to_postgres(
    source: str, target_url: str, progress: Progress | None = None, cancel: threading.Event | None = None
) -> MigrationReport:
    """Copy the catalog at ``source`` (a SQLite file) into the empty PostgreSQL catalog at ``target_url``."""
    if not Path(source).is_file():
        raise NotFound(f"There is no local catalog at {source}")
    SqliteCatalogStore(source).close()  # refuses a catalog written by a newer vmrestore
    PostgresCatalogStore(target_url).close()  # creates or upgrades the target's schema
    report = progress or (lambda _f, _t: None)
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
    try:
        lite.execute("BEGIN")  # one snapshot of the source, even while this workstation indexes into it
        counts = {t: int(lite.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t, _ in TABLES}
        entries = int(lite.execute("SELECT coalesce(sum(entries), 0) FROM indexed_volumes").fetchone()[0])
        total = max(1, sum(counts.values()))
        done = 0
        with psycopg.connect(target_url) as pg, pg.transaction():
            pg.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, LOCK_POINTS))
            held = [t for t in ("repositories", "points", "versions") if _count(pg, t)]
            if held:
                raise InvalidInput(
                    f"The PostgreSQL catalog is not empty (it has {', '.join(held)}): migrate into a new database, "
                    "or index the repositories from the shared catalog instead")
            for table, columns in TABLES:
                report(done / total, f"Copying {table} ({counts[table]:,} rows)")
                cursor = lite.execute(f"SELECT {columns} FROM {table}")
                with pg.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    while rows := cursor.fetchmany(CHUNK):
                        if cancel is not None and cancel.is_set():
                            raise Cancelled("The catalog migration was cancelled; the target is unchanged")
                        for row in rows:
                            copy.write_row(row)
                        done += len(rows)
                        report(done / total, f"Copying {table}: {done:,} of {total:,} rows")
            for table in _IDENTITY_TABLES:
                pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
            for table, _ in TABLES:  # fresh statistics: the planner must not guess on millions of new rows
                pg.execute(f"ANALYZE {table}")
            copied = {t: _count(pg, t) for t, _ in TABLES}
            if copied != counts:
                raise VmrestoreError(f"The copy does not match the source (source {counts}, copied {copied})")
            report(1.0, f"Copied {counts['points']:,} restore points and {entries:,} indexed entries")
    finally:
        lite.close()
    return MigrationReport(points=counts["points"], entries=entries, rows=counts)


def _count(pg: psycopg.Connection[Any], table: str) -> int:
    row = pg.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def source_counts(source: str) -> tuple[int, int]:
    """What a migration of ``source`` would copy: (restore points, indexed entries); read-only."""
    if not Path(source).is_file():
        raise NotFound(f"There is no local catalog at {source}")
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
    try:
        points = lite.execute("SELECT count(*) FROM points").fetchone()[0]
        entries = lite.execute("SELECT coalesce(sum(entries), 0) FROM indexed_volumes").fetchone()[0]
        return int(points), int(entries)
    finally:
        lite.close()
