"""``catalog test URL`` and its use case against a real PostgreSQL with TLS and password logins.

The cluster is ``tests/bench/postgres_auth.py``: 127.0.0.1 only over TLS (``hostssl``) with a SCRAM password,
a server certificate signed by a CA made in the fixture. Each failure an admin can meet is provoked for real
and must come back in plain words, never with the password in it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.bench.postgres_auth import PASSWORD, TlsPgServer, _free_port
from vmrestore.app.catalog_test import TestCatalogConnection
from vmrestore.catalog.pg_schema import LATEST

check = TestCatalogConnection().check


def _no_password(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text and "S3cret" not in text


def test_ok_over_verified_tls(pg_tls_server: TlsPgServer) -> None:
    r = asyncio.run(TestCatalogConnection().check_async(pg_tls_server.url(query=pg_tls_server.verify_full())))
    assert r.ok and r.tls, r.message
    assert r.server == f"127.0.0.1:{pg_tls_server.port}"
    assert r.version and r.version.split(".")[0].isdigit()
    assert f"PostgreSQL {r.version} over TLS" in r.message and "empty database" in r.message
    _no_password(r.message, r.server)


def test_wrong_password(pg_tls_server: TlsPgServer) -> None:
    r = check(pg_tls_server.url(password="wrong-one", query=pg_tls_server.verify_full()))
    assert not r.ok and r.message.startswith("Wrong user name or password"), r.message
    assert "wrong-one" not in r.message


def test_unknown_database(pg_tls_server: TlsPgServer) -> None:
    r = check(pg_tls_server.url("no_such_db", query=pg_tls_server.verify_full()))
    assert not r.ok and r.message.startswith("The server has no such database"), r.message
    _no_password(r.message)


def test_unreachable_server(pg_tls_server: TlsPgServer) -> None:
    url = pg_tls_server.url().replace(f":{pg_tls_server.port}/", f":{_free_port()}/")
    r = check(url)
    assert not r.ok and r.message.startswith("The server cannot be reached"), r.message
    assert r.version is None


def test_tls_required(pg_tls_server: TlsPgServer) -> None:
    r = check(pg_tls_server.url(query="sslmode=disable"))
    assert not r.ok and r.message.startswith("The server accepts only TLS connections"), r.message
    _no_password(r.message)


def test_certificate_not_trusted(pg_tls_server: TlsPgServer) -> None:
    r = check(pg_tls_server.url(query=pg_tls_server.verify_full(pg_tls_server.other_ca_file)))
    assert not r.ok and r.message.startswith("The server's TLS certificate is not trusted"), r.message
    _no_password(r.message)


def test_schema_newer_than_this_app(pg_tls_server: TlsPgServer) -> None:
    pg_tls_server.psql("CREATE DATABASE newer OWNER desk")
    pg_tls_server.psql("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL); "
                       f"INSERT INTO schema_migrations VALUES ({LATEST + 5}, 'future'); "
                       "GRANT SELECT ON schema_migrations TO desk", database="newer")
    r = check(pg_tls_server.url("newer", query=pg_tls_server.verify_full()))
    assert not r.ok and r.tls and "newer vmrestore" in r.message, r.message
    assert f"schema {LATEST + 5}" in r.message
    # nothing was changed by the test
    assert pg_tls_server.psql("SELECT count(*) FROM schema_migrations", database="newer").strip() == "1"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VMRESTORE_HOME": str(home), "VMRESTORE_CATALOG": str(home / "catalog.sqlite")}
    return subprocess.run([sys.executable, "-m", "vmrestore", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_cli_json_and_exit_codes(pg_tls_server: TlsPgServer, tmp_path: Path) -> None:
    good = _cli(tmp_path, "catalog", "test", pg_tls_server.url(query=pg_tls_server.verify_full()), "--json")
    assert good.returncode == 0, good.stderr
    body = json.loads(good.stdout)
    assert set(body) == {"ok", "server", "version", "tls", "message"}
    assert body["ok"] is True and body["tls"] is True
    bad = _cli(tmp_path, "catalog", "test", pg_tls_server.url(password="nope-nope"), "--json")
    assert bad.returncode == 1
    body = json.loads(bad.stdout)
    assert body["ok"] is False and body["message"].startswith("Wrong user name or password")
    _no_password(good.stdout, good.stderr, bad.stdout, bad.stderr)
    assert "nope-nope" not in bad.stdout + bad.stderr
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix in
                   {".log", ".json", ".jsonl"})
    _no_password(logs)
    assert "nope-nope" not in logs
