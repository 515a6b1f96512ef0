"""The PostgreSQL catalog's schema: numbered migrations applied on open and recorded, a newer schema
refused, and the pg_trgm GIN index serving the exact substring and glob predicates the store sends."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from vmrestore.catalog import open_store
from vmrestore.catalog.pattern import compile_pattern, glob_to_regex, like_substring
from vmrestore.catalog.pg_schema import LATEST, MIGRATIONS
from vmrestore.catalog.pg_store import PostgresCatalogStore
from vmrestore.errors import InvalidInput, Transient
from vmrestore.model import FileEntry, FileType, RestorePoint


def test_migrations_are_applied_once_and_recorded(pg_url: str) -> None:
    first = open_store(pg_url)
    assert isinstance(first, PostgresCatalogStore)
    assert first.migrations_applied == [n for n, _, _ in MIGRATIONS]
    first.close()
    second = open_store(pg_url)
    assert isinstance(second, PostgresCatalogStore) and second.migrations_applied == []
    second.close()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version, description FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(n, d) for n, d, _ in MIGRATIONS]


def test_a_newer_schema_is_refused_and_left_alone(pg_url: str) -> None:
    open_store(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO schema_migrations (version, description) VALUES (%s, 'from the future')",
                     (LATEST + 1,))
    with pytest.raises(InvalidInput, match=f"schema {LATEST + 1}"):
        open_store(pg_url)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (LATEST + 1,)


def test_unreachable_server_is_transient_without_the_password(pg_server: object) -> None:
    with pytest.raises(Transient) as caught:
        PostgresCatalogStore("postgresql://someone:s3cret@/nodb?host=/nonexistent-socket-dir", timeout=2)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(("pattern", "predicate"), [
    ("report", "like"), ("Q3-rep", "like"), ("*.xlsx", "regex"), ("[!bn]*report*", "regex"),
])
def test_name_search_uses_the_trigram_index(pg_url: str, pattern: str, predicate: str) -> None:
    open_store(pg_url).close()
    pat = compile_pattern(pattern)
    value = like_substring(pat.needle) if predicate == "like" else glob_to_regex(pat.text.lower())
    test = "lname LIKE %s" if predicate == "like" else "lname ~ %s"
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO names (name, lname) SELECT 'f' || g || '.txt', 'f' || g || '.txt' "
                     "FROM generate_series(1, 2000) g")
        conn.execute("INSERT INTO names (name, lname) VALUES ('Q3-report.xlsx', 'q3-report.xlsx')")
        conn.execute("ANALYZE names")
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT id FROM names WHERE {test}", (value,)))
        found = conn.execute(f"SELECT name FROM names WHERE {test}", (value,)).fetchall()
    assert "names_lname_trgm" in plan, plan
    assert found == [("Q3-report.xlsx",)]


def test_search_is_planned_for_its_own_pattern_every_time(pg_url: str) -> None:
    """psycopg prepares a statement on the server after five runs, and PostgreSQL may then keep a generic
    plan that cannot see the pattern (measured: 45-107 ms instead of 7 ms on 600,000 entries). The search
    query must never be a prepared statement, however often it runs; its answers stay the same."""
    store = PostgresCatalogStore(pg_url, max_connections=1)
    try:
        created = datetime(2024, 9, 1, 22, 0, 0, tzinfo=UTC)
        store.upsert_points([RestorePoint(id="nas/vm1/p1", repo="nas", vm="vm1", created=created, path="/r",
                                          status="ok")])
        files = [FileEntry(path=f"/docs/{name}", name=name, type=FileType.FILE, size=i, mtime=created)
                 for i, name in enumerate(("Q3-report.xlsx", "kernel32.sys", "notes.txt", "report.pdf"))]
        store.index_volume("nas/vm1/p1", "scsi0:0", 1, files)
        answers = {pattern: [h.path for h in store.search(pattern)] for pattern in ("report", "kernel??.sys")}
        assert answers == {"report": ["/docs/Q3-report.xlsx", "/docs/report.pdf"],
                           "kernel??.sys": ["/docs/kernel32.sys"]}
        for _ in range(12):
            for pattern, paths in answers.items():
                assert [h.path for h in store.search(pattern)] == paths
        with store._pool.connection() as conn:  # the pool's only connection: the one every search used
            prepared = [r[0] for r in conn.execute("SELECT statement FROM pg_prepared_statements")]
        assert prepared, "psycopg prepared nothing at all: the test no longer exercises its threshold"
        assert not [s for s in prepared if "hit_seq" in s]
    finally:
        store.close()
