"""The audit log on the shared PostgreSQL server: one linear chain under concurrent writers, and an
operator role that can add entries but never change or remove one (docs/shared-catalog.md's grants)."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.bench.postgres_fixtures import PgServer
from vmrestore.catalog import open_store
from vmrestore.engine.audit_pg import PgAuditLog
from vmrestore.model import FileEntry, FileType, RestorePoint

ROOT = Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent("""
    import sys
    from vmrestore.engine.audit_pg import PgAuditLog
    log = PgAuditLog(sys.argv[1])
    for i in range(int(sys.argv[3])):
        log.append(action="extract", target=f"{sys.argv[2]}-{i}", result="ok", role="helpdesk",
                   vcenter_user=None, detail={"writer": sys.argv[2], "i": i})
""")


def _shared_db(pg_server: PgServer) -> tuple[str, str]:
    name = pg_server.create_database("audit")
    url = pg_server.url(name)
    open_store(url).close()  # the schema, audit_log included (migration 2)
    return name, url


def test_concurrent_writers_keep_one_linear_chain(pg_server: PgServer) -> None:
    _, url = _shared_db(pg_server)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, name, "40"], env=env, stderr=subprocess.PIPE,
                                text=True) for name in ("desk-a", "desk-b", "desk-c")]
    for w in writers:
        _, err = w.communicate(timeout=180)
        assert w.returncode == 0, err
    log = PgAuditLog(url)
    entries = log.entries()
    assert [e.seq for e in entries] == list(range(1, 121))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    for desk in ("desk-a", "desk-b", "desk-c"):  # each writer's own entries, in its own order
        assert [e.detail["i"] for e in entries if e.detail["writer"] == desk] == list(range(40))
    assert log.verify().ok and log.verify().entries == 120


def test_operator_may_insert_but_never_update_or_delete(pg_server: PgServer) -> None:
    database, owner_url = _shared_db(pg_server)
    operator = f"op_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE ROLE {operator} LOGIN")
    grants = re.search(r"```sql\n(.*?)```", (ROOT / "docs" / "shared-catalog.md").read_text(), re.S)
    assert grants is not None
    sql = grants.group(1).replace("DATABASE vmrestore", f'DATABASE "{database}"').replace(
        "vmrestore_operator", operator)
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(sql)
    op_url = pg_server.url(database, user=operator)

    # Day-to-day work as the operator: audit entries, and the catalog itself (index, search).
    log = PgAuditLog(op_url)
    log.append(action="extract", target="p1:/a.txt", result="ok", role="helpdesk", vcenter_user="alice")
    store = open_store(op_url)
    try:
        point = RestorePoint(id="nas/vm/p1", repo="nas", vm="vm", created=log.entries()[0].time, path="/b",
                             status="ok")
        store.upsert_points([point])
        store.index_volume(point.id, "scsi0:0", 1, [FileEntry("/a.txt", "a.txt", FileType.FILE, 1, None)])
        assert [h.path for h in store.search("a.txt")] == ["/a.txt"]
    finally:
        store.close()

    with psycopg.connect(op_url, autocommit=True) as conn:
        for statement in ("UPDATE audit_log SET result = 'failed'", "DELETE FROM audit_log",
                          "TRUNCATE audit_log", "ALTER TABLE audit_log DISABLE TRIGGER USER"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    # Even the table's owner is stopped by the trigger; only switching it off on purpose gets through...
    with psycopg.connect(owner_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("UPDATE audit_log SET result = 'failed'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("DELETE FROM audit_log")
        assert log.verify().ok
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        conn.execute("UPDATE audit_log SET target = 'p1:/b.txt' WHERE seq = 1")
    # ... and verify names the changed entry.
    result = log.verify()
    assert not result.ok and result.problems == ["entry seq 1 changed: its hash does not match"]
