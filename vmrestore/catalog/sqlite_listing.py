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

import json
import sqlite3
from collections.abc import Hashable

from vmrestore.catalog.sqlite_indexing import merge_versions
from vmrestore.listing import VolumeListing

LISTING_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS lnames (name TEXT PRIMARY KEY, id INTEGER);
CREATE TEMP TABLE IF NOT EXISTS lgone (dir TEXT NOT NULL, name TEXT NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS lpairs (dir_id INTEGER NOT NULL, name_id INTEGER NOT NULL);
"""


def write_listing(
    conn: sqlite3.Connection, listing: VolumeListing, lineage: int, seq: int, prev: int | None, nxt: int | None
) -> tuple[int, int, int]:
    """Store ``listing`` as point ``seq`` of ``lineage``; returns (entries, inserted, extended).

    ``prev``/``nxt`` are the lineage's neighbouring indexed points. A listing of changes is only valid
    against ``prev`` when ``nxt`` is None (the caller checks the state it came from).
    """
    conn.execute("DELETE FROM temp.lnames")
    conn.execute("DELETE FROM temp.lgone")
    conn.execute("DELETE FROM temp.lpairs")
    conn.execute("DELETE FROM temp.stage")
    fresh = listing.complete and prev is None and nxt is None
    staged = _stage(conn, listing, lineage, seq, fresh)
    if fresh:  # a fresh lineage: every row is new, straight into versions
        inserted = conn.executemany(
            "INSERT INTO versions (lineage_id, path_id, type, size, mtime_us, target, first_seq, last_seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", staged.values()).rowcount
        return len(staged), int(inserted), 0
    conn.executemany(
        "INSERT INTO temp.stage (path_id, dir, name, lname, type, size, mtime_us, target) "
        "VALUES (?, ?, ?, '', ?, ?, ?, ?)", staged.values())
    if listing.complete:
        inserted, extended = merge_versions(conn, lineage, seq)
        return len(staged), inserted, extended
    assert prev is not None and nxt is None, "a listing of changes applies to the newest point only"
    conn.executemany(
        "INSERT INTO temp.lgone (dir, name) VALUES (?, ?)", [_split(path) for path in listing.gone]
    )
    # Every unchanged file: its version at the previous point now also covers this one.
    extended = conn.execute(
        "UPDATE versions SET last_seq = :s WHERE lineage_id = :l AND last_seq = :prev "
        "AND path_id NOT IN (SELECT path_id FROM temp.stage) AND path_id NOT IN ("
        "SELECT p.id FROM temp.lgone g JOIN dirs d ON d.path = g.dir JOIN names n ON n.name = g.name "
        "JOIN paths p ON p.dir_id = d.id AND p.name_id = n.id)",
        {"s": seq, "l": lineage, "prev": prev},
    ).rowcount
    inserted, merged = merge_versions(conn, lineage, seq)
    return listing.entries, inserted, int(extended) + merged


def _stage(conn: sqlite3.Connection, listing: VolumeListing, lineage: int, seq: int,
           fresh: bool) -> dict[int, tuple[object, ...]]:
    """Intern the listing's folders, names and paths; one row per path id (a path listed twice: the later
    row wins, as it always has), shaped for ``versions`` when ``fresh``, else for ``temp.stage``."""
    rows = listing.rows
    folders = listing.folders
    folder_path = {k: folders[k] for k in {row[0] for row in rows} if k in folders}
    conn.executemany("INSERT OR IGNORE INTO dirs (path) VALUES (?)", [(p,) for p in set(folder_path.values())])
    dir_ids = dict(conn.execute("SELECT path, id FROM dirs WHERE path IN (SELECT value FROM json_each(?))",
                                (json.dumps(list(set(folder_path.values()))),)))
    dir_of: dict[Hashable, int] = {k: dir_ids[p] for k, p in folder_path.items()}
    conn.executemany("INSERT OR IGNORE INTO temp.lnames (name) VALUES (?)", [(n,) for n in {row[1] for row in rows}])
    new = [row[0] for row in conn.execute(
        "SELECT name FROM temp.lnames WHERE NOT EXISTS (SELECT 1 FROM names WHERE names.name = lnames.name)")]
    if new:
        (max_name,) = conn.execute("SELECT coalesce(max(id), 0) FROM names").fetchone()
        conn.executemany("INSERT INTO names (name, lname) VALUES (?, ?)", [(n, n.lower()) for n in new])
        conn.execute("INSERT INTO names_fts (rowid, lname) SELECT id, lname FROM names WHERE id > ?", (max_name,))
    name_ids: dict[str, int] = dict(conn.execute(
        "SELECT l.name, n.id FROM temp.lnames l JOIN names n ON n.name = l.name"))
    # The paths the catalog already holds (other points, other VMs), then the new ones numbered after the
    # highest id: this transaction is the only writer. A whole listing asks by folder; a listing of
    # changes (a few files in many folders) by each (folder, name) pair.
    if listing.complete:
        found = conn.execute(
            "SELECT dir_id, name_id, id FROM paths WHERE dir_id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(set(dir_of.values()))),))
    else:
        conn.executemany("INSERT INTO temp.lpairs VALUES (?, ?)",
                         [(dir_of[row[0]], name_ids[row[1]]) for row in rows if row[0] in dir_of])
        found = conn.execute("SELECT p.dir_id, p.name_id, p.id FROM temp.lpairs l "
                             "JOIN paths p ON p.dir_id = l.dir_id AND p.name_id = l.name_id")
    known: dict[int, int] = {dir_id << 32 | name_id: path_id for dir_id, name_id, path_id in found}
    (next_id,) = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM paths").fetchone()
    first_new = next_id
    new_paths: list[tuple[int, int, int]] = []
    out: dict[int, tuple[object, ...]] = {}
    for fkey, name, code, size, mtime_us, target in rows:
        dir_id = dir_of.get(fkey)
        if dir_id is None:
            continue  # its folder is not listed: not reachable
        name_id = name_ids[name]
        key = dir_id << 32 | name_id
        path_id = known.get(key)
        if path_id is None:
            path_id = known[key] = next_id
            next_id += 1
            new_paths.append((path_id, dir_id, name_id))
        if fresh:
            out[path_id] = (lineage, path_id, code, size, mtime_us, target, seq, seq)
        else:
            out[path_id] = (path_id, folder_path[fkey], name, code, size, mtime_us, target)
    if new_paths:
        assert new_paths[0][0] == first_new
        conn.executemany("INSERT INTO paths (id, dir_id, name_id) VALUES (?, ?, ?)", new_paths)
    return out
def _split(path: str) -> tuple[str, str]:
    head, _, tail = ("/" + path.strip("/")).rpartition("/")
    return head or "/", tail
