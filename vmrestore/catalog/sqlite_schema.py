"""The catalog's SQLite schema and the dedup model behind it.

Consecutive ghettoVCB restore points of a VM hold nearly the same files, so storing every file of
every point would grow the catalog by (points × files). Instead:

* ``names`` holds each distinct file name once (with ``lname``, its lower-cased form) and
  ``names_fts`` a trigram index over it, so a substring search scans distinct names, not files.
* ``dirs`` holds each distinct directory path once; ``paths`` interns (dir, name).
* A *lineage* is one volume of one VM over time: (vm, disk_key, volume_index).
* ``versions`` holds one row per distinct state of a path in a lineage, valid for the restore points
  whose ``seq`` lies in ``[first_seq, last_seq]``. Indexing a point extends ``last_seq`` of every
  unchanged file and inserts rows only for new or changed ones, so the catalog grows with what
  changed. A row may span points of the VM for which this volume was *not* indexed (yet); every
  query therefore starts from ``indexed_volumes`` and only asks about indexed points, and indexing a
  point that falls inside such a span splits it (see ``SqliteCatalogStore.index_volume``).
* ``seq`` is the point's creation time in whole seconds since the epoch, made unique per VM by
  bumping on a tie. It never changes once assigned, so a point discovered late (out of order) gets
  a seq between its neighbours without renumbering anything.

Kept to plain SQL (no SQLite-only types) except the FTS5 table, which PostgreSQL replaces with a
``pg_trgm`` GIN index on ``names.lname``.
"""

from __future__ import annotations

from vmrestore.listing import TYPE_CODES as LISTING_TYPE_CODES

SCHEMA_VERSION = 1

# Small integers instead of "file"/"dir"/"symlink": the versions table is the big one (listing.py).
TYPE_CODES: dict[str, int] = {str(kind): code for kind, code in LISTING_TYPE_CODES.items()}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repositories (name TEXT PRIMARY KEY, path TEXT NOT NULL, nfs TEXT);
CREATE TABLE IF NOT EXISTS points (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    vm TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    browsable INTEGER NOT NULL,
    size INTEGER NOT NULL,
    disks TEXT NOT NULL,
    reason TEXT,
    UNIQUE (vm, seq)
);
CREATE INDEX IF NOT EXISTS points_created ON points (created_us);
CREATE TABLE IF NOT EXISTS lineages (
    id INTEGER PRIMARY KEY,
    vm TEXT NOT NULL,
    disk_key TEXT NOT NULL,
    volume_index INTEGER NOT NULL,
    UNIQUE (vm, disk_key, volume_index)
);
CREATE TABLE IF NOT EXISTS indexed_volumes (
    point_id TEXT NOT NULL,
    disk_key TEXT NOT NULL,
    volume_index INTEGER NOT NULL,
    lineage_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    indexed_us INTEGER NOT NULL,
    PRIMARY KEY (point_id, disk_key, volume_index)
);
CREATE INDEX IF NOT EXISTS indexed_volumes_lineage ON indexed_volumes (lineage_id, seq);
CREATE TABLE IF NOT EXISTS dirs (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, lname TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS names_lname ON names (lname);
CREATE VIRTUAL TABLE IF NOT EXISTS names_fts USING fts5 (
    lname, content='names', content_rowid='id', tokenize='trigram'
);
CREATE TABLE IF NOT EXISTS paths (
    id INTEGER PRIMARY KEY,
    dir_id INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    UNIQUE (dir_id, name_id)
);
CREATE INDEX IF NOT EXISTS paths_name ON paths (name_id);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    lineage_id INTEGER NOT NULL,
    path_id INTEGER NOT NULL,
    type INTEGER NOT NULL,
    size INTEGER,
    mtime_us INTEGER,
    target TEXT,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_path ON versions (path_id, lineage_id, first_seq);
CREATE INDEX IF NOT EXISTS versions_lineage_last ON versions (lineage_id, last_seq);
-- What a fast reader (listing.ListingSource) returned with the newest indexed point of a lineage, handed
-- back to it for the next point so that it lists only what changed (an NTFS scan: ~40 bytes a file).
CREATE TABLE IF NOT EXISTS scan_states (
    lineage_id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    state BLOB NOT NULL
);
"""

# Per-connection scratch table for the volume being indexed (temp tables are private to a connection
# and take part in its transaction, so a cancelled volume leaves nothing behind).
STAGE = """
CREATE TEMP TABLE IF NOT EXISTS stage (
    dir TEXT NOT NULL,
    name TEXT NOT NULL,
    lname TEXT NOT NULL,
    type INTEGER NOT NULL,
    size INTEGER,
    mtime_us INTEGER,
    target TEXT,
    dir_id INTEGER,
    name_id INTEGER,
    path_id INTEGER,
    done INTEGER NOT NULL DEFAULT 0,
    prev_vid INTEGER,
    next_vid INTEGER,
    PRIMARY KEY (dir, name)
);
"""
