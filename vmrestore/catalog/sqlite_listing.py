"""Writing a ``VolumeListing`` (rows keyed by folder) into the SQLite catalog, whole or as changes.

The fast way in: folders are interned once each (not once per file), names once per distinct name, and
each file costs one row in a temp table plus set-based SQL. A listing of a fresh lineage is inserted
straight into ``versions`` in path order; any other complete listing goes through ``merge_versions``.

A listing of changes (``complete`` False, made against the state kept with the previous indexed point)
extends every version row of the previous point in one UPDATE except the paths that changed or went
(``gone``) and the paths listed again, which go through the general merge: the result is the catalog that
indexing the whole volume would give (tests/integration/app/test_catalog_incremental.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable

from vmrestore.catalog.sqlite_indexing import merge_versions
from vmrestore.listing import VolumeListing

LISTING_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS lrows (
    fkey, name TEXT NOT NULL, type INTEGER NOT NULL, size INTEGER, mtime_us INTEGER, target TEXT
);
CREATE TEMP TABLE IF NOT EXISTS lfolders (fkey PRIMARY KEY, path TEXT NOT NULL, dir_id INTEGER);
CREATE TEMP TABLE IF NOT EXISTS lnames (name TEXT PRIMARY KEY, id INTEGER);
CREATE TEMP TABLE IF NOT EXISTS lpaths (
    path_id INTEGER PRIMARY KEY, dir TEXT NOT NULL, name TEXT NOT NULL, type INTEGER NOT NULL, size INTEGER,
    mtime_us INTEGER, target TEXT
);
CREATE TEMP TABLE IF NOT EXISTS lgone (dir TEXT NOT NULL, name TEXT NOT NULL);
"""
_CLEAR = ("lrows", "lfolders", "lnames", "lpaths", "lgone")


def write_listing(
    conn: sqlite3.Connection, listing: VolumeListing, lineage: int, seq: int, prev: int | None, nxt: int | None
) -> tuple[int, int, int]:
    """Store ``listing`` as point ``seq`` of ``lineage``; returns (entries, inserted, extended).

    ``prev``/``nxt`` are the lineage's neighbouring indexed points. A listing of changes is only valid
    against ``prev`` when ``nxt`` is None (the caller checks the state it came from).
    """
    for table in _CLEAR:
        conn.execute(f"DELETE FROM temp.{table}")
    _stage(conn, listing)
    if listing.complete:
        (count,) = conn.execute("SELECT count(*) FROM temp.lpaths").fetchone()
        if prev is None and nxt is None:  # a fresh lineage: every row is new
            inserted = conn.execute(
                "INSERT INTO versions (lineage_id, path_id, type, size, mtime_us, target, first_seq, last_seq) "
                "SELECT ?, path_id, type, size, mtime_us, target, ?, ? FROM temp.lpaths ORDER BY path_id",
                (lineage, seq, seq),
            ).rowcount
            return int(count), int(inserted), 0
        inserted, extended = _merge(conn, lineage, seq)
        return int(count), inserted, extended
    assert prev is not None and nxt is None, "a listing of changes applies to the newest point only"
    conn.executemany(
        "INSERT INTO temp.lgone (dir, name) VALUES (?, ?)", [_split(path) for path in listing.gone]
    )
    # Every unchanged file: its version at the previous point now also covers this one.
    extended = conn.execute(
        "UPDATE versions SET last_seq = :s WHERE lineage_id = :l AND last_seq = :prev "
        "AND path_id NOT IN (SELECT path_id FROM temp.lpaths) AND path_id NOT IN ("
        "SELECT p.id FROM temp.lgone g JOIN dirs d ON d.path = g.dir JOIN names n ON n.name = g.name "
        "JOIN paths p ON p.dir_id = d.id AND p.name_id = n.id)",
        {"s": seq, "l": lineage, "prev": prev},
    ).rowcount
    inserted, merged = _merge(conn, lineage, seq)
    return listing.entries, inserted, int(extended) + merged


def _stage(conn: sqlite3.Connection, listing: VolumeListing) -> None:
    """Intern the listing's folders, names and paths; leave one row per path in ``temp.lpaths``."""
    rows = listing.rows
    folders = listing.folders
    used: set[Hashable] = {row[0] for row in rows}
    conn.executemany(
        "INSERT INTO temp.lfolders (fkey, path) VALUES (?, ?)", [(k, folders[k]) for k in used if k in folders]
    )
    conn.executemany("INSERT INTO temp.lrows VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT OR IGNORE INTO dirs (path) SELECT path FROM temp.lfolders")
    conn.execute("UPDATE temp.lfolders SET dir_id = (SELECT id FROM dirs WHERE dirs.path = lfolders.path)")
    conn.executemany("INSERT OR IGNORE INTO temp.lnames (name) VALUES (?)", [(n,) for n in {row[1] for row in rows}])
    new = [row[0] for row in conn.execute(
        "SELECT name FROM temp.lnames WHERE NOT EXISTS (SELECT 1 FROM names WHERE names.name = lnames.name)")]
    if new:
        (max_name,) = conn.execute("SELECT coalesce(max(id), 0) FROM names").fetchone()
        conn.executemany("INSERT INTO names (name, lname) VALUES (?, ?)", [(n, n.lower()) for n in new])
        conn.execute("INSERT INTO names_fts (rowid, lname) SELECT id, lname FROM names WHERE id > ?", (max_name,))
    conn.execute("UPDATE temp.lnames SET id = (SELECT id FROM names WHERE names.name = lnames.name)")
    conn.execute(
        "INSERT OR IGNORE INTO paths (dir_id, name_id) SELECT f.dir_id, n.id FROM temp.lrows r "
        "JOIN temp.lfolders f ON f.fkey = r.fkey JOIN temp.lnames n ON n.name = r.name"
    )
    # A path listed twice (a reader quirk): the later row wins, as it always has.
    conn.execute(
        "INSERT OR REPLACE INTO temp.lpaths SELECT p.id, f.path, r.name, r.type, r.size, r.mtime_us, r.target "
        "FROM temp.lrows r JOIN temp.lfolders f ON f.fkey = r.fkey JOIN temp.lnames n ON n.name = r.name "
        "JOIN paths p ON p.dir_id = f.dir_id AND p.name_id = n.id ORDER BY r.rowid"
    )


def _merge(conn: sqlite3.Connection, lineage: int, seq: int) -> tuple[int, int]:
    conn.execute("DELETE FROM temp.stage")
    conn.execute(
        "INSERT INTO temp.stage (dir, name, lname, type, size, mtime_us, target, path_id) "
        "SELECT dir, name, '', type, size, mtime_us, target, path_id FROM temp.lpaths"
    )
    return merge_versions(conn, lineage, seq)


def _split(path: str) -> tuple[str, str]:
    head, _, tail = ("/" + path.strip("/")).rpartition("/")
    return head or "/", tail
