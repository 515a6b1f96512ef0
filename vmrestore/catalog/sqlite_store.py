"""SQLite implementation of ``CatalogStore`` (schema and dedup design: ``sqlite_schema``).

One connection per thread (the app calls from executor threads) in WAL mode, so a search from the UI
runs while a volume is being indexed; writes are serialised by a lock, and each volume is indexed in
one transaction through a temp staging table with set-based SQL, which is far faster than a
round-trip per file and keeps the dedup logic in one place.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vmrestore.catalog import sqlite_search
from vmrestore.catalog.rows import TYPES_BY_CODE, dir_listing
from vmrestore.catalog.sqlite_indexing import (
    from_us,
    intern_paths,
    merge_versions,
    norm_dir,
    previous_states,
    split_path,
    stage_changes,
    stage_entries,
    to_us,
)
from vmrestore.catalog.sqlite_listing import LISTING_TABLES, write_listing
from vmrestore.catalog.sqlite_schema import SCHEMA, SCHEMA_VERSION, STAGE
from vmrestore.catalog.store import (
    COUNT_CAP,
    HitCount,
    IndexStats,
    Repository,
    SearchHit,
    VersionInfo,
    disks_from_json,
    disks_to_json,
)
from vmrestore.errors import Cancelled, InvalidInput, NotFound
from vmrestore.listing import ListingSource, rows_of
from vmrestore.model import FileEntry, RestorePoint
from vmrestore.sqlite_wal import enable_wal


def _checked(entries: Iterable[FileEntry], cancel: threading.Event | None) -> Iterable[FileEntry]:
    """``entries``, raising ``Cancelled`` every 5,000 of them once ``cancel`` is set."""
    if cancel is None:
        yield from entries
        return
    for n, entry in enumerate(entries):
        if n % 5000 == 0 and cancel.is_set():
            raise Cancelled("indexing was cancelled")
        yield entry


class _LocalClaim:
    def release(self) -> None:
        return None


class SqliteCatalogStore:
    """The catalog in one SQLite file (``VMRESTORE_CATALOG``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path == ":memory:":
            raise InvalidInput("the catalog needs a file: each thread opens its own connection")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        conn = self._conn()
        with self._write_lock:
            conn.executescript(SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise InvalidInput(f"{self.path} was written by a newer vmrestore (schema {row[0]})")

    # -- connections ---------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a volume is one transaction.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
            enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA temp_store=FILE")
            conn.executescript(STAGE)
            conn.executescript(LISTING_TABLES)
            conn.execute("CREATE INDEX IF NOT EXISTS temp.stage_path ON stage (path_id)")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> SqliteCatalogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- repositories and points ---------------------------------------------------------------

    def add_repository(self, repo: Repository) -> None:
        with self._write_lock:
            self._conn().execute(
                "INSERT INTO repositories (name, path, nfs) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET path = excluded.path, nfs = excluded.nfs",
                (repo.name, repo.path, repo.nfs),
            )

    def list_repositories(self) -> list[Repository]:
        rows = self._conn().execute("SELECT name, path, nfs FROM repositories ORDER BY name").fetchall()
        return [Repository(name=r[0], path=r[1], nfs=r[2]) for r in rows]

    def remove_repository(self, name: str) -> int:
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Version rows are shared by every indexed point of a (VM, disk, volume) lineage: drop the
                # lineages this repository's points touch, so what remains is never half an index.
                lineages = [r[0] for r in conn.execute(
                    "SELECT DISTINCT iv.lineage_id FROM indexed_volumes iv JOIN points p ON p.id = iv.point_id "
                    "WHERE p.repo = ?", (name,))]
                for lineage in lineages:
                    conn.execute("DELETE FROM versions WHERE lineage_id = ?", (lineage,))
                    conn.execute("DELETE FROM scan_states WHERE lineage_id = ?", (lineage,))
                    conn.execute("DELETE FROM indexed_volumes WHERE lineage_id = ?", (lineage,))
                forgotten = conn.execute("DELETE FROM points WHERE repo = ?", (name,)).rowcount
                conn.execute("DELETE FROM repositories WHERE name = ?", (name,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(forgotten)

    def upsert_points(self, points: Iterable[RestorePoint]) -> int:
        added = 0
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for p in points:
                    known = conn.execute("SELECT 1 FROM points WHERE id = ?", (p.id,)).fetchone()
                    if known:
                        conn.execute(
                            "UPDATE points SET path = ?, status = ?, browsable = ?, size = ?, disks = ?, "
                            "reason = ? WHERE id = ?",
                            (
                                p.path,
                                p.status,
                                int(p.browsable),
                                p.size,
                                disks_to_json(p.disks),
                                p.reason,
                                p.id,
                            ),
                        )
                        continue
                    created_us = to_us(p.created)
                    assert created_us is not None
                    seq = created_us // 1_000_000
                    while conn.execute(
                        "SELECT 1 FROM points WHERE vm = ? AND seq = ?", (p.vm, seq)
                    ).fetchone():
                        seq += 1  # two points of a VM in the same second: keep seq unique and ordered
                    conn.execute(
                        "INSERT INTO points (id, repo, vm, created_us, seq, path, status, browsable, size, "
                        "disks, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            p.id,
                            p.repo,
                            p.vm,
                            created_us,
                            seq,
                            p.path,
                            p.status,
                            int(p.browsable),
                            p.size,
                            disks_to_json(p.disks),
                            p.reason,
                        ),
                    )
                    added += 1
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return added

    _POINT_COLS = "id, repo, vm, created_us, path, status, browsable, size, disks, reason"

    @staticmethod
    def _point(row: tuple[Any, ...]) -> RestorePoint:
        created = from_us(row[3])
        assert created is not None
        return RestorePoint(
            id=row[0],
            repo=row[1],
            vm=row[2],
            created=created,
            path=row[4],
            status=row[5],
            browsable=bool(row[6]),
            size=row[7],
            disks=disks_from_json(row[8]),
            reason=row[9],
        )

    def get_point(self, point_id: str) -> RestorePoint:
        row = (
            self._conn()
            .execute(f"SELECT {self._POINT_COLS} FROM points WHERE id = ?", (point_id,))
            .fetchone()
        )
        if row is None:
            raise NotFound(f"restore point {point_id} is not in the catalog")
        return self._point(row)

    def list_points(self, vm: str | None = None, repo: str | None = None) -> list[RestorePoint]:
        rows = (
            self._conn()
            .execute(
                f"SELECT {self._POINT_COLS} FROM points "
                "WHERE (? IS NULL OR vm = ?) AND (? IS NULL OR repo = ?) "
                "ORDER BY created_us DESC, id",
                (vm, vm, repo, repo),
            )
            .fetchall()
        )
        return [self._point(r) for r in rows]

    # -- indexing ------------------------------------------------------------------------------

    def is_indexed(self, point_id: str, disk_key: str, volume_index: int) -> bool:
        row = (
            self._conn()
            .execute(
                "SELECT 1 FROM indexed_volumes WHERE point_id = ? AND disk_key = ? AND volume_index = ?",
                (point_id, disk_key, volume_index),
            )
            .fetchone()
        )
        return row is not None

    def try_claim(self, point_id: str) -> _LocalClaim:
        """One workstation: the scheduler already runs one index job per repository at a time."""
        return _LocalClaim()

    def index_volume(
        self,
        point_id: str,
        disk_key: str,
        volume_index: int,
        entries: Iterable[FileEntry],
        cancel: threading.Event | None = None,
    ) -> IndexStats:
        started = time.monotonic()
        with self._write_lock:
            conn = self._conn()
            row = conn.execute("SELECT vm, seq FROM points WHERE id = ?", (point_id,)).fetchone()
            if row is None:
                raise NotFound(f"restore point {point_id} is not in the catalog")
            vm, seq = row
            if self.is_indexed(point_id, disk_key, volume_index):
                return IndexStats(point_id, disk_key, volume_index, 0, 0, 0, True, time.monotonic() - started)
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM temp.stage")
                conn.execute(
                    "INSERT OR IGNORE INTO lineages (vm, disk_key, volume_index) VALUES (?, ?, ?)",
                    (vm, disk_key, volume_index),
                )
                (lineage,) = conn.execute(
                    "SELECT id FROM lineages WHERE vm = ? AND disk_key = ? AND volume_index = ?",
                    (vm, disk_key, volume_index),
                ).fetchone()
                if isinstance(entries, ListingSource):
                    count, inserted, extended = self._index_listing(conn, lineage, seq, entries, cancel)
                else:
                    count, inserted, extended = self._index_entries(conn, lineage, seq, entries, cancel)
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"indexing {point_id} {disk_key} volume {volume_index} was cancelled")
                conn.execute(
                    "INSERT INTO indexed_volumes VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (point_id, disk_key, volume_index, lineage, seq, count, to_us(datetime.now(UTC))),
                )
                conn.execute("DELETE FROM temp.stage")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return IndexStats(
            point_id, disk_key, volume_index, count, inserted, extended, False, time.monotonic() - started
        )

    @staticmethod
    def _neighbours(conn: sqlite3.Connection, lineage: int, seq: int) -> tuple[int | None, int | None]:
        (prev,) = conn.execute(
            "SELECT max(seq) FROM indexed_volumes WHERE lineage_id = ? AND seq < ?", (lineage, seq)).fetchone()
        (nxt,) = conn.execute(
            "SELECT min(seq) FROM indexed_volumes WHERE lineage_id = ? AND seq > ?", (lineage, seq)).fetchone()
        return prev, nxt

    def _index_listing(self, conn: sqlite3.Connection, lineage: int, seq: int, source: ListingSource,
                       cancel: threading.Event | None) -> tuple[int, int, int]:
        """A reader with its own listing: hand it the state of the previous point when that is the newest
        indexed one (then it lists only the changes), keep the new state when this point is the newest."""
        prev, nxt = self._neighbours(conn, lineage, seq)
        row = conn.execute("SELECT seq, kind, state FROM scan_states WHERE lineage_id = ?", (lineage,)).fetchone()
        usable = row is not None and prev is not None and nxt is None and row[0] == prev and row[1] == source.state_kind
        listing = source.listing(bytes(row[2]) if usable else None)
        if cancel is not None and cancel.is_set():
            raise Cancelled("indexing was cancelled")
        result = write_listing(conn, listing, lineage, seq, prev, nxt)
        if nxt is None and listing.state is not None:
            conn.execute("INSERT OR REPLACE INTO scan_states VALUES (?, ?, ?, ?)",
                         (lineage, seq, listing.state_kind, listing.state))
        return result

    def _index_entries(self, conn: sqlite3.Connection, lineage: int, seq: int, entries: Iterable[FileEntry],
                       cancel: threading.Event | None) -> tuple[int, int, int]:
        prev, nxt = self._neighbours(conn, lineage, seq)
        if prev is None and nxt is None:  # a fresh lineage: the fast way in, whatever the reader
            listing = rows_of(_checked(entries, cancel))
            return write_listing(conn, listing, lineage, seq, prev, nxt)
        # The next point of a VM holds nearly the same files: reuse the previous point's.
        previous = previous_states(conn, lineage, seq)
        kept = 0
        if previous is None:
            count = stage_entries(conn, entries, cancel)
        else:
            count, kept = stage_changes(conn, entries, previous, seq, cancel)
            del previous
        if cancel is not None and cancel.is_set():
            raise Cancelled("indexing was cancelled")
        intern_paths(conn)
        inserted, extended = merge_versions(conn, lineage, seq)
        return count, inserted, extended + kept

    def rebuild_name_indexes(self) -> None:
        """Derive the name indexes (trigram FTS) from ``names`` again: after a bulk load that wrote names
        directly (a benchmark's synthetic fleet), or to repair a catalog. Indexing keeps them current itself."""
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT INTO names_fts (names_fts) VALUES ('rebuild')")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- queries -------------------------------------------------------------------------------

    def _volume(self, point_id: str, disk_key: str, volume_index: int) -> tuple[int, int]:
        row = (
            self._conn()
            .execute(
                "SELECT lineage_id, seq FROM indexed_volumes "
                "WHERE point_id = ? AND disk_key = ? AND volume_index = ?",
                (point_id, disk_key, volume_index),
            )
            .fetchone()
        )
        if row is None:
            raise NotFound(f"{point_id} {disk_key} volume {volume_index} is not indexed")
        return int(row[0]), int(row[1])

    def list_dir(self, point_id: str, disk_key: str, volume_index: int, path: str) -> list[FileEntry]:
        lineage, seq = self._volume(point_id, disk_key, volume_index)
        directory = norm_dir(path)
        rows = (
            self._conn()
            .execute(
                "SELECT n.name, v.type, v.size, v.mtime_us, v.target FROM dirs d "
                "JOIN paths p ON p.dir_id = d.id "
                "JOIN versions v ON v.path_id = p.id AND v.lineage_id = ? "
                "AND v.first_seq <= ? AND v.last_seq >= ? "
                "JOIN names n ON n.id = p.name_id WHERE d.path = ?",
                (lineage, seq, seq, directory),
            )
            .fetchall()
        )
        return dir_listing(directory, rows)

    def search(
        self,
        pattern: str,
        vm: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[SearchHit]:
        return sqlite_search.search(self._conn(), pattern, vm, since, until, limit)

    def count_hits(
        self,
        pattern: str,
        vm: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cap: int = COUNT_CAP,
    ) -> HitCount:
        return sqlite_search.count_hits(self._conn(), pattern, vm, since, until, cap)

    def versions(self, point_id: str, disk_key: str, volume_index: int, path: str) -> list[VersionInfo]:
        lineage, _seq = self._volume(point_id, disk_key, volume_index)
        directory, name = split_path(path)
        conn = self._conn()
        points = conn.execute(
            "SELECT iv.seq, iv.point_id, p.created_us FROM indexed_volumes iv "
            "JOIN points p ON p.id = iv.point_id "
            "WHERE iv.lineage_id = ? ORDER BY iv.seq",
            (lineage,),
        ).fetchall()
        rows = conn.execute(
            "SELECT v.id, v.type, v.size, v.mtime_us, v.first_seq, v.last_seq FROM dirs d "
            "JOIN paths p ON p.dir_id = d.id JOIN names n ON n.id = p.name_id "
            "JOIN versions v ON v.path_id = p.id AND v.lineage_id = ? WHERE d.path = ? AND n.name = ?",
            (lineage, directory, name),
        ).fetchall()
        out: list[VersionInfo] = []
        previous: int | None = None
        for seq, pid, created_us in points:
            row = next((r for r in rows if r[4] <= seq <= r[5]), None)
            current = row[0] if row else None
            if row is not None:
                created = from_us(created_us)
                assert created is not None
                out.append(
                    VersionInfo(
                        point_id=pid,
                        created=created,
                        type=TYPES_BY_CODE[row[1]],
                        size=row[2],
                        mtime=from_us(row[3]),
                        changed=current != previous,
                    )
                )
            previous = current
        out.reverse()
        return out
