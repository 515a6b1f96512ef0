"""A password-protected shared catalog on a computer without a keyring (issue 12 §4): the CLI takes the password
from ``VMRESTORE_CATALOG_PASSWORD`` or a prompt at a terminal, Settings keeps a typed one for the session only
(saying so), and the index workers never carry it where ``ps`` or Task Manager show it (their command line) nor
in their environment. Against the bench's TLS + SCRAM cluster; the keyring is the ``fail`` backend (as on this
machine) or a store whose ``set`` fails like it.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.bench.disk_fixtures import BackupRepo
from tests.bench.postgres_auth import PASSWORD, TlsPgServer
from vmrestore.app.bootstrap import build_services
from vmrestore.app.secrets import KeyringUnavailable, MemorySecretStore
from vmrestore.app.settings_edit import SESSION_ONLY_NOTICE
from vmrestore.errors import CatalogPasswordRequired

ROOT = Path(__file__).resolve().parents[3]


class NoKeyring(MemorySecretStore):
    """A store whose keyring part is missing, as KeyringSecretStore behaves with keyring's fail backend."""

    def set(self, server: str, user: str, secret: str) -> None:
        raise KeyringUnavailable("No password store (keyring) is available on this computer")


def _database(server: TlsPgServer) -> str:
    name = f"shared_{uuid.uuid4().hex[:8]}"
    server.psql(f"CREATE DATABASE {name} OWNER desk")
    return name


def _home(tmp_path: Path, url: str, name: str = "home") -> Path:
    home = tmp_path / name
    home.mkdir()
    (home / "settings.json").write_text(json.dumps({"catalog_location": url}))
    return home


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "VMRESTORE_HOME": str(home), "PYTHONPATH": str(ROOT),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", **extra}
    for name in ("VMRESTORE_CATALOG", "VMRESTORE_CATALOG_PASSWORD"):
        if name not in extra:
            env.pop(name, None)
    return env


def _cli(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    out = subprocess.run([sys.executable, "-m", "vmrestore", *args, "--json"], env=env, capture_output=True,
                         text=True, timeout=300, stdin=subprocess.DEVNULL)
    return out.returncode, json.loads(out.stdout) if out.stdout.strip() else None, out.stdout + out.stderr


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_cli_password_from_the_environment_never_reaches_a_workers_command_line(
        pg_tls_server: TlsPgServer, backup_repo: BackupRepo, tmp_path: Path) -> None:
    db = _database(pg_tls_server)
    clean = pg_tls_server.url(db, password=None, query=pg_tls_server.verify_full())
    home = _home(tmp_path, clean)

    # No keyring, no variable, no terminal: refused in words naming the ways to give it, exit 1.
    code, out, text = _cli(_env(home), "points", "list")
    assert code == 1 and out["error"]["code"] == "catalog_password_required", text
    assert "VMRESTORE_CATALOG_PASSWORD" in out["error"]["message"] and out["error"]["wrong_password"] is False
    assert out["error"]["catalog"] == f"postgresql://desk@127.0.0.1:{pg_tls_server.port}/{db}?" \
        f"{pg_tls_server.verify_full()}"
    code, out, text = _cli(_env(home, VMRESTORE_CATALOG_PASSWORD="Wr0ng-pw"), "points", "list")
    assert code == 1 and out["error"]["code"] == "catalog_password_required" and out["error"]["wrong_password"]
    assert "Wr0ng-pw" not in text

    env = _env(home, VMRESTORE_CATALOG_PASSWORD=PASSWORD)
    assert _cli(env, "repo", "add", "main", str(backup_repo.root))[0] == 0
    index = subprocess.Popen([sys.executable, "-m", "vmrestore", "catalog", "index", "--json"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    seen: dict[int, tuple[bytes, bytes]] = {}
    while index.poll() is None:
        for pid in _descendants(index.pid):
            if pid not in seen:
                seen[pid] = (_read(f"/proc/{pid}/cmdline"), _read(f"/proc/{pid}/environ"))
        time.sleep(0.02)
    out_bytes, err = index.communicate(timeout=60)
    assert index.returncode == 0, err
    assert json.loads(out_bytes)["files_indexed"] > 0
    workers = {pid: cmd for pid, (cmd, _) in seen.items() if b"multiprocessing" in cmd}
    assert workers, f"no index worker was seen: {[c for c, _ in seen.values()]}"
    secret = PASSWORD.encode()
    assert not [pid for pid, (cmd, environ) in seen.items() if secret in cmd or secret in environ]
    assert secret not in _read(f"/proc/{os.getpid()}/cmdline")
    # Nothing kept: every file of the home is free of it, and the next command needs it again.
    assert not [p for p in home.rglob("*") if p.is_file() and secret in p.read_bytes()]
    assert _cli(_env(home), "points", "list")[0] == 1


def test_cli_asks_at_a_terminal(pg_tls_server: TlsPgServer, tmp_path: Path) -> None:
    db = _database(pg_tls_server)
    home = _home(tmp_path, pg_tls_server.url(db, password=None, query=pg_tls_server.verify_full()))
    env = _env(home)
    pid, fd = pty.fork()
    if pid == 0:  # the child: vmrestore on a terminal, as an operator runs it
        os.execve(sys.executable, [sys.executable, "-m", "vmrestore", "points", "list", "--json"], env)
    transcript = b""
    answered = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        transcript += chunk
        if not answered and b"Password for the shared catalog" in transcript:
            os.write(fd, PASSWORD.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert answered, transcript
    assert os.waitstatus_to_exitcode(status) == 0, transcript
    assert b"[]" in transcript and PASSWORD.encode() not in transcript  # no echo, never printed


def test_settings_keep_a_typed_password_for_the_session_only(
        pg_tls_server: TlsPgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VMRESTORE_CATALOG", raising=False)
    db, tls = _database(pg_tls_server), pg_tls_server.verify_full()
    with_pw, clean = pg_tls_server.url(db, query=tls), pg_tls_server.url(db, password=None, query=tls)
    key = (f"127.0.0.1:{pg_tls_server.port}", "desk")
    secrets = NoKeyring()
    services = build_services(str(tmp_path / "home"), secrets=secrets)
    try:
        assert services.settings_editor.update({"catalog_location": with_pw}) == [
            "catalog_location", "catalog_password"]
        assert services.settings_editor.notices == [SESSION_ONLY_NOTICE]
        assert "ask for it again at the next start" in SESSION_ONLY_NOTICE
        assert services.settings.catalog_location == clean
        assert services.catalog_test.check(clean).ok  # this session has it
        audit = services.audit.entries()[-1]
        assert audit.detail["catalog_password"] == "kept for this session only (no keyring)"
    finally:
        services.close()
    assert secrets.get(*key) == PASSWORD and secrets.saved(*key) is None  # memory, not the keyring
    assert PASSWORD.encode() not in b"".join(p.read_bytes() for p in (tmp_path / "home").rglob("*") if p.is_file())

    again = build_services(str(tmp_path / "home"), secrets=secrets)  # the same process: uses it
    again.close()
    fresh = NoKeyring()  # the next start: asked again, and what is typed is kept in memory
    with pytest.raises(CatalogPasswordRequired) as asked:
        build_services(str(tmp_path / "home"), secrets=fresh)
    assert asked.value.supply is not None and not asked.value.wrong and PASSWORD not in str(asked.value)
    asked.value.supply(PASSWORD)
    started = build_services(str(tmp_path / "home"), secrets=fresh)
    try:
        assert started.catalog.store.list_points() == []
    finally:
        started.close()
    assert fresh.saved(*key) is None
