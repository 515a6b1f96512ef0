"""The shared catalog's password lives in the keyring port, never in settings.json, logs, audit or messages.

Against the bench's TLS + SCRAM cluster (``tests/bench/postgres_auth.py``); the keyring is the in-memory
``MemorySecretStore`` (tests never touch a real user's keyring).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.bench.postgres_auth import PASSWORD, TlsPgServer
from vmrestore.app.bootstrap import build_services
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.errors import InvalidInput, RoleDenied, VmrestoreError
from vmrestore.model import Role


def _database(server: TlsPgServer) -> str:
    name = f"shared_{uuid.uuid4().hex[:8]}"
    server.psql(f"CREATE DATABASE {name} OWNER desk")
    return name


def _files_text(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_password_goes_to_keyring_and_next_start_uses_it(
        pg_tls_server: TlsPgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VMRESTORE_CATALOG", raising=False)
    home, secrets = tmp_path / "home", MemorySecretStore()
    db, tls = _database(pg_tls_server), pg_tls_server.verify_full()
    with_pw, clean = pg_tls_server.url(db, query=tls), pg_tls_server.url(db, password=None, query=tls)

    first = build_services(str(home), secrets=secrets)
    try:
        assert first.settings_editor.update({"catalog_location": with_pw}) == ["catalog_location", "catalog_password"]
        assert first.settings.catalog_location == clean
        assert first.settings_editor.update({"catalog_location": with_pw}) == []  # same password: nothing to do
    finally:
        first.close()
    assert secrets.get(f"127.0.0.1:{pg_tls_server.port}", "desk") == PASSWORD
    assert clean.encode() in first.paths.settings_file.read_bytes()

    second = build_services(str(home), secrets=secrets)  # the next start: URL from settings, password from keyring
    try:
        assert second.catalog.location == clean
        assert second.catalog.store.list_points() == []
        assert second.catalog_test.check(clean).ok
    finally:
        second.close()
    assert PASSWORD.encode() not in _files_text(home)  # settings.json, audit log, state, logs

    with pytest.raises(VmrestoreError) as refused:  # no password saved: a plain refusal without secrets
        build_services(str(home), secrets=MemorySecretStore())
    assert "password" in str(refused.value).lower() and PASSWORD not in str(refused.value)


def test_wrong_password_is_refused_and_nothing_is_kept(
        pg_tls_server: TlsPgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VMRESTORE_CATALOG", raising=False)
    secrets = MemorySecretStore()
    db, tls = _database(pg_tls_server), pg_tls_server.verify_full()
    services = build_services(str(tmp_path / "home"), secrets=secrets)
    try:
        with pytest.raises(InvalidInput) as bad:
            services.settings_editor.update({"catalog_location": pg_tls_server.url(db, password="Wr0ng-pw", query=tls)})
        assert "Wr0ng-pw" not in str(bad.value) and "cannot be opened" in str(bad.value)
        assert services.settings.catalog_location is None
        services.settings.role = Role.HELPDESK
        with pytest.raises(RoleDenied):
            services.settings_editor.update({"catalog_location": pg_tls_server.url(db, query=tls)})
        assert services.settings.catalog_location is None
    finally:
        services.close()
    assert secrets.get(f"127.0.0.1:{pg_tls_server.port}", "desk") is None
    assert b"Wr0ng-pw" not in _files_text(tmp_path / "home") and PASSWORD.encode() not in _files_text(tmp_path)
