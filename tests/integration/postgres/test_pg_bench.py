"""The bench's PostgreSQL: a real server per session, an empty database per test."""

from __future__ import annotations

import psycopg

from tests.bench.postgres_fixtures import PgServer


def test_each_test_gets_an_empty_database_of_its_own(pg_server: PgServer, pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(version[0]) >= 130000
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE mine (x int)")
        # pg_trgm (substring search) is available to a database owner: a trusted extension.
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        assert conn.execute("SELECT similarity('report', 'q3-report')").fetchone() is not None
    other = pg_server.url(pg_server.create_database())
    with psycopg.connect(other) as conn:
        assert conn.execute("SELECT to_regclass('public.mine')").fetchone() == (None,)
