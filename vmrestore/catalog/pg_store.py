"""PostgreSQL implementation of ``CatalogStore``: the shared team catalog (``VMRESTORE_CATALOG=postgresql://…``).

The same tables and the same dedup algorithm as SQLite (``sqlite_schema``; ``merge_versions`` runs here
through ``pg_sql``), with what a server offers: a connection pool shared by the executor threads,
numbered migrations applied on open (``pg_schema``), ``COPY`` to stage a volume, a ``pg_trgm`` GIN index
for substring and glob search, and transaction-scoped advisory locks so that several workstations
indexing at once never fold two points of one lineage at the same time.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from vmrestore.catalog import pg_search
from vmrestore.catalog.pg_schema import LOCK_CLAIM, LOCK_POINTS, LOCK_SPACE, STAGE, migrate
from vmrestore.catalog.rows import TYPES_BY_CODE, dir_listing
from vmrestore.catalog.sqlite_indexing import from_us, merge_versions, norm_dir, split_path, to_us
from vmrestore.catalog.sqlite_schema import TYPE_CODES
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
from vmrestore.errors import Cancelled, CatalogPasswordRequired, NotFound, Transient
from vmrestore.model import FileEntry, RestorePoint

_LINEAGE_LOCK_BASE = 0x766D << 48  # one-bigint advisory keys: this base + the lineage id
BATCH = 5000

_NAMED = re.compile(r"(?<![:\w]):([a-z_]+)\b")


def pg_sql(sql: str) -> str:
    """SQLite-flavoured SQL of ``sqlite_indexing`` as PostgreSQL runs it: ``?``/``:name`` placeholders
    become psycopg's, ``IS`` between staged and stored values becomes ``IS NOT DISTINCT FROM``, and the
    ``temp.`` schema is PostgreSQL's ``pg_temp.``."""
    out = _NAMED.sub(r"%(\1)s", sql.replace("?", "%s"))
    out = out.replace(" IS stage.", " IS NOT DISTINCT FROM stage.")
    return out.replace("temp.stage", "pg_temp.stage")


def _point(row: tuple[Any, ...]) -> RestorePoint:
    created = from_us(row[3])
    assert created is not None
    return RestorePoint(id=row[0], repo=row[1], vm=row[2], created=created, path=row[4], status=row[5],
                        browsable=bool(row[6]), size=row[7], disks=disks_from_json(row[8]), reason=row[9])


class PostgresCatalogStore:
    """The catalog in a PostgreSQL database, shared by every workstation of a team."""

    _POINT_COLS = "id, repo, vm, created_us, path, status, browsable, size, disks, reason"

    def __init__(self, url: str, *, max_connections: int = 8, timeout: float = 15.0) -> None:
        self.url = url
        try:  # one plain connection first: a wrong password fails now, in words, not after the pool's retries
            psycopg.connect(url, connect_timeout=max(1, int(timeout))).close()
        except psycopg.Error as exc:
            from vmrestore.catalog.pg_probe import password_problem, plain_reason, server_of

            problem = password_problem(str(exc))
            if problem is not None:  # the operator can fix this one by typing the password
                raise CatalogPasswordRequired(f"Cannot open the shared catalog: {plain_reason(str(exc))}",
                                              server_of(url), wrong=problem == "wrong") from None
            raise Transient(f"Cannot open the shared catalog: {plain_reason(str(exc))}") from None
        self._pool = ConnectionPool(url, min_size=1, max_size=max_connections, open=False, timeout=timeout,
                                    name="vmrestore-catalog")
        try:
            self._pool.open(wait=True, timeout=timeout)
        except Exception as exc:
            self._pool.close()
            raise Transient(f"Cannot reach the catalog server: {_safe_reason(exc)}") from exc
        try:
            with self._pool.connection() as conn:
                self.migrations_applied = migrate(conn)
        except BaseException:
            self._pool.close()
            raise

    # -- connections ---------------------------------------------------------------------------

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; the block is one transaction (committed on success, rolled back on error)."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise Transient(f"The catalog server failed: {_safe_reason(exc)}") from exc

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresCatalogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- repositories and points ---------------------------------------------------------------

    def add_repository(self, repo: Repository) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO repositories (name, path, nfs) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET path = excluded.path, nfs = excluded.nfs",
                (repo.name, repo.path, repo.nfs),
            )

    def list_repositories(self) -> list[Repository]:
        with self._conn() as conn:
            rows = conn.execute("SELECT name, path, nfs FROM repositories ORDER BY name").fetchall()
        return [Repository(name=r[0], path=r[1], nfs=r[2]) for r in rows]

    def remove_repository(self, name: str) -> int:
        with self._conn() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, LOCK_POINTS))
            lineages = [r[0] for r in conn.execute(
                "SELECT DISTINCT iv.lineage_id FROM indexed_volumes iv JOIN points p ON p.id = iv.point_id "
                "WHERE p.repo = %s ORDER BY 1", (name,))]
            for lineage in lineages:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LINEAGE_LOCK_BASE + lineage,))
                conn.execute("DELETE FROM versions WHERE lineage_id = %s", (lineage,))
                conn.execute("DELETE FROM indexed_volumes WHERE lineage_id = %s", (lineage,))
            forgotten = conn.execute("DELETE FROM points WHERE repo = %s", (name,)).rowcount
            conn.execute("DELETE FROM repositories WHERE name = %s", (name,))
        return int(forgotten)

    def upsert_points(self, points: Iterable[RestorePoint]) -> int:
        added = 0
        with self._conn() as conn:
            # One writer of points at a time across workstations: seq must stay unique per VM.
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, LOCK_POINTS))
            for p in points:
                updated = conn.execute(
                    "UPDATE points SET path = %s, status = %s, browsable = %s, size = %s, disks = %s, reason = %s "
                    "WHERE id = %s",
                    (p.path, p.status, int(p.browsable), p.size, disks_to_json(p.disks), p.reason, p.id),
                ).rowcount
                if updated:
                    continue
                created_us = to_us(p.created)
                assert created_us is not None
                seq = created_us // 1_000_000
                while conn.execute("SELECT 1 FROM points WHERE vm = %s AND seq = %s", (p.vm, seq)).fetchone():
                    seq += 1  # two points of a VM in the same second: keep seq unique and ordered
                conn.execute(
                    "INSERT INTO points (id, repo, vm, created_us, seq, path, status, browsable, size, disks, "
                    "reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (p.id, p.repo, p.vm, created_us, seq, p.path, p.status, int(p.browsable), p.size,
                     disks_to_json(p.disks), p.reason),
                )
                added += 1
        return added

    def get_point(self, point_id: str) -> RestorePoint:
        with self._conn() as conn:
            row = conn.execute(f"SELECT {self._POINT_COLS} FROM points WHERE id = %s", (point_id,)).fetchone()
        if row is None:
            raise NotFound(f"restore point {point_id} is not in the catalog")
        return _point(row)

    def list_points(self, vm: str | None = None, repo: str | None = None) -> list[RestorePoint]:
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {self._POINT_COLS} FROM points WHERE (%(vm)s::text IS NULL OR vm = %(vm)s) "
                "AND (%(repo)s::text IS NULL OR repo = %(repo)s) ORDER BY created_us DESC, id",
                {"vm": vm, "repo": repo},
            ).fetchall()
        return [_point(r) for r in rows]

    # -- indexing ------------------------------------------------------------------------------

    def is_indexed(self, point_id: str, disk_key: str, volume_index: int) -> bool:
        with self._conn() as conn:
            return self._indexed(conn, point_id, disk_key, volume_index)

    @staticmethod
    def _indexed(conn: psycopg.Connection[Any], point_id: str, disk_key: str, volume_index: int) -> bool:
        row = conn.execute(
            "SELECT 1 FROM indexed_volumes WHERE point_id = %s AND disk_key = %s AND volume_index = %s",
            (point_id, disk_key, volume_index),
        ).fetchone()
        return row is not None

    def try_claim(self, point_id: str) -> _ServerClaim | None:
        """A session advisory lock on a connection of its own: held while this process lives and holds it,
        gone the moment the process dies (its connection closes), so a crashed desk never blocks a point."""
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=15)
        except psycopg.OperationalError as exc:
            raise Transient(f"The catalog server failed: {_safe_reason(exc)}") from exc
        row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLAIM, point_id)).fetchone()
        if row is None or not row[0]:
            conn.close()
            return None
        return _ServerClaim(conn)

    def index_volume(
        self,
        point_id: str,
        disk_key: str,
        volume_index: int,
        entries: Iterable[FileEntry],
        cancel: threading.Event | None = None,
    ) -> IndexStats:
        started = time.monotonic()
        with self._conn() as conn:
            row = conn.execute("SELECT vm, seq FROM points WHERE id = %s", (point_id,)).fetchone()
            if row is None:
                raise NotFound(f"restore point {point_id} is not in the catalog")
            vm, seq = row
            conn.execute(
                "INSERT INTO lineages (vm, disk_key, volume_index) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (vm, disk_key, volume_index),
            )
            lineage_row = conn.execute(
                "SELECT id FROM lineages WHERE vm = %s AND disk_key = %s AND volume_index = %s",
                (vm, disk_key, volume_index),
            ).fetchone()
            assert lineage_row is not None
            lineage = int(lineage_row[0])
            conn.commit()  # the lineage row is shared; what follows is the volume's own transaction
            # One folder of a lineage at a time, whichever workstation: merge_versions reads its neighbours.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LINEAGE_LOCK_BASE + lineage,))
            if self._indexed(conn, point_id, disk_key, volume_index):
                return IndexStats(point_id, disk_key, volume_index, 0, 0, 0, True, time.monotonic() - started)
            conn.execute(STAGE)
            count = _copy_entries(conn, entries, cancel)
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"indexing {point_id} {disk_key} volume {volume_index} was cancelled")
            _intern_paths(conn)
            inserted, extended = merge_versions(conn, lineage, seq, pg_sql)
            conn.execute(
                "INSERT INTO indexed_volumes VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (point_id, disk_key, volume_index, lineage, seq, count, to_us(datetime.now(UTC))),
            )
        return IndexStats(point_id, disk_key, volume_index, count, inserted, extended, False,
                          time.monotonic() - started)

    # -- queries -------------------------------------------------------------------------------

    @staticmethod
    def _volume(conn: psycopg.Connection[Any], point_id: str, disk_key: str, volume_index: int) -> tuple[int, int]:
        row = conn.execute(
            "SELECT lineage_id, seq FROM indexed_volumes WHERE point_id = %s AND disk_key = %s AND volume_index = %s",
            (point_id, disk_key, volume_index),
        ).fetchone()
        if row is None:
            raise NotFound(f"{point_id} {disk_key} volume {volume_index} is not indexed")
        return int(row[0]), int(row[1])

    def list_dir(self, point_id: str, disk_key: str, volume_index: int, path: str) -> list[FileEntry]:
        directory = norm_dir(path)
        with self._conn() as conn:
            lineage, seq = self._volume(conn, point_id, disk_key, volume_index)
            rows = conn.execute(
                "SELECT n.name, v.type, v.size, v.mtime_us, v.target FROM dirs d "
                "JOIN paths p ON p.dir_id = d.id "
                "JOIN versions v ON v.path_id = p.id AND v.lineage_id = %s AND v.first_seq <= %s AND v.last_seq >= %s "
                "JOIN names n ON n.id = p.name_id WHERE d.path = %s",
                (lineage, seq, seq, directory),
            ).fetchall()
        return dir_listing(directory, rows)

    def search(
        self,
        pattern: str,
        vm: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[SearchHit]:
        with self._conn() as conn:
            return pg_search.search(conn, pattern, vm, since, until, limit)

    def count_hits(
        self,
        pattern: str,
        vm: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cap: int = COUNT_CAP,
    ) -> HitCount:
        with self._conn() as conn:
            return pg_search.count_hits(conn, pattern, vm, since, until, cap)

    def versions(self, point_id: str, disk_key: str, volume_index: int, path: str) -> list[VersionInfo]:
        directory, name = split_path(path)
        with self._conn() as conn:
            lineage, _seq = self._volume(conn, point_id, disk_key, volume_index)
            points = conn.execute(
                "SELECT iv.seq, iv.point_id, p.created_us FROM indexed_volumes iv JOIN points p ON p.id = iv.point_id "
                "WHERE iv.lineage_id = %s ORDER BY iv.seq", (lineage,)).fetchall()
            rows = conn.execute(
                "SELECT v.id, v.type, v.size, v.mtime_us, v.first_seq, v.last_seq FROM dirs d "
                "JOIN paths p ON p.dir_id = d.id JOIN names n ON n.id = p.name_id "
                "JOIN versions v ON v.path_id = p.id AND v.lineage_id = %s WHERE d.path = %s AND n.name = %s",
                (lineage, directory, name)).fetchall()
        out: list[VersionInfo] = []
        previous: int | None = None
        for seq, pid, created_us in points:
            row = next((r for r in rows if r[4] <= seq <= r[5]), None)
            current = row[0] if row else None
            if row is not None:
                created = from_us(created_us)
                assert created is not None
                out.append(VersionInfo(point_id=pid, created=created, type=TYPES_BY_CODE[row[1]], size=row[2],
                                       mtime=from_us(row[3]), changed=current != previous))
            previous = current
        out.reverse()
        return out


class _ServerClaim:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def release(self) -> None:
        self._conn.close()  # ends the session: the advisory lock goes with it


def _copy_entries(conn: psycopg.Connection[Any], entries: Iterable[FileEntry], cancel: threading.Event | None) -> int:
    """Stream the volume into ``stage_raw`` with COPY, then keep the last entry of each path in ``stage``."""
    with conn.cursor() as cur, cur.copy(
        "COPY stage_raw (ord, dir, name, lname, type, size, mtime_us, target) FROM STDIN"
    ) as copy:
        for ord_, e in enumerate(entries):
            if ord_ % BATCH == 0 and cancel is not None and cancel.is_set():
                raise Cancelled("indexing was cancelled")
            path = e.path.strip("/")
            if not path:
                continue  # the volume root itself has no name and no row
            d, _, n = path.rpartition("/")
            copy.write_row((ord_, "/" + d, n, n.lower(), TYPE_CODES[e.type], e.size, to_us(e.mtime), e.target))
    # A file listed twice (a reader quirk): the later entry wins instead of failing the volume.
    conn.execute(
        "INSERT INTO pg_temp.stage (dir, name, lname, type, size, mtime_us, target) "
        "SELECT DISTINCT ON (dir, name) dir, name, lname, type, size, mtime_us, target FROM pg_temp.stage_raw "
        "ORDER BY dir, name, ord DESC"
    )
    row = conn.execute("SELECT count(*) FROM pg_temp.stage").fetchone()
    assert row is not None
    return int(row[0])


def _intern_paths(conn: psycopg.Connection[Any]) -> None:
    """Give every staged entry its dir, name and path ids, creating the ones never seen before.

    ``ON CONFLICT DO NOTHING`` in a stable order: two workstations interning the same new names at once
    wait for each other instead of failing, and never deadlock.
    """
    conn.execute("INSERT INTO dirs (path) SELECT DISTINCT dir FROM pg_temp.stage ORDER BY 1 ON CONFLICT DO NOTHING")
    conn.execute("INSERT INTO names (name, lname) SELECT name, min(lname) FROM pg_temp.stage GROUP BY name "
                 "ORDER BY name ON CONFLICT DO NOTHING")
    conn.execute("UPDATE pg_temp.stage s SET dir_id = d.id FROM dirs d WHERE d.path = s.dir")
    conn.execute("UPDATE pg_temp.stage s SET name_id = n.id FROM names n WHERE n.name = s.name")
    conn.execute("INSERT INTO paths (dir_id, name_id) SELECT DISTINCT dir_id, name_id FROM pg_temp.stage "
                 "ORDER BY 1, 2 ON CONFLICT DO NOTHING")
    conn.execute("UPDATE pg_temp.stage s SET path_id = p.id FROM paths p "
                 "WHERE p.dir_id = s.dir_id AND p.name_id = s.name_id")
    conn.execute("ANALYZE pg_temp.stage")


def _safe_reason(exc: BaseException) -> str:
    """The server's reason without the connection string (it may hold a password)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"postgres(?:ql)?://\S+", "postgresql://…", text)
