"""pytest plugin: a real PostgreSQL server, a throwaway cluster per test session.

Debian's ``postgresql`` package (scripts/install-system-deps.sh) ships ``initdb`` and ``postgres`` in
``/usr/lib/postgresql/<version>/bin``. The bench makes a cluster in a fresh temporary folder, listens on a
Unix socket only (no TCP port to collide with another run), with durability off (a test cluster never
outlives its session), and gives each test its own database, so tests never see each other's rows.

``initdb`` refuses to run as root: as root the cluster is made and run by the ``postgres`` account the
package creates (``runuser``); as anyone else, by that user. The superuser role is ``vmrestore``, and the
URL names the socket folder as ``host``: ``postgresql://vmrestore@/db?host=/tmp/vmrestore-pg-…``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from tests.bench.tools import missing

SUPERUSER = "vmrestore"
START_TIMEOUT = 60.0


def _bindir() -> str:
    """The newest installed server's bin folder, or fail (CI) / skip naming the package."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        on_path = shutil.which("initdb")
        if on_path:
            return os.path.dirname(on_path)
        missing("PostgreSQL's initdb not found: install the Debian package postgresql "
                "(scripts/install-system-deps.sh)")
    return os.path.dirname(found[-1])


@dataclass
class PgServer:
    """One running cluster: its socket folder, and how to make databases in it."""

    bindir: str
    root: str  # owns data/, the socket and the log
    run_as: str | None  # the account the server runs as when we are root
    settings: tuple[str, ...] = ()  # extra "name=value" server settings (a benchmark's bigger buffers)

    @property
    def socket_dir(self) -> str:
        return os.path.join(self.root, "sock")

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{auth}@/{database}?host={quote(self.socket_dir, safe='')}"

    def _cmd(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else list(argv)

    def start(self) -> None:
        """Start the cluster in ``root``, making it first unless ``root`` already holds one (a benchmark
        keeps its cluster between runs)."""
        data = os.path.join(self.root, "data")
        if not os.path.exists(os.path.join(data, "PG_VERSION")):
            subprocess.run(
                self._cmd(os.path.join(self.bindir, "initdb"), "-D", data, "-U", SUPERUSER, "-A", "trust",
                          "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
                check=True, capture_output=True, timeout=120,
            )
        options = " ".join([
            "-c listen_addresses=''", f"-c unix_socket_directories={self.socket_dir}", "-c fsync=off",
            "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=200",
            "-c shared_buffers=64MB", *(f"-c {s}" for s in self.settings),
        ])
        result = subprocess.run(
            self._cmd(os.path.join(self.bindir, "pg_ctl"), "-D", data, "-l", os.path.join(self.root, "server.log"),
                      "-o", options, "-w", "-t", str(int(START_TIMEOUT)), "start"),
            capture_output=True, text=True, timeout=START_TIMEOUT + 10,
        )
        if result.returncode != 0:
            with open(os.path.join(self.root, "server.log"), errors="replace") as f:
                raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{f.read()[-2000:]}")

    def stop(self) -> None:
        data = os.path.join(self.root, "data")
        subprocess.run(self._cmd(os.path.join(self.bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"),
                       capture_output=True, timeout=60)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser through psql (for the bench itself; tests use psycopg)."""
        result = subprocess.run(
            [os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", self.socket_dir, "-U", SUPERUSER, "-d", database, "-c", sql],
            capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout

    def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return name


def start_server(root: str | None = None, settings: tuple[str, ...] = ()) -> PgServer:
    """A new cluster in a fresh temporary folder, or the one kept in ``root`` (made there the first time)."""
    bindir = _bindir()
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing("running as root needs the 'postgres' account (created by the Debian package postgresql)")
        run_as = "postgres"
    if root is None:
        root = tempfile.mkdtemp(prefix="vmrestore-pg-")
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    os.makedirs(os.path.join(root, "sock"), mode=0o777, exist_ok=True)
    os.chmod(os.path.join(root, "sock"), 0o777)
    if run_as:
        account = pwd.getpwnam(run_as)
        for path in (root, os.path.join(root, "sock")):
            os.chown(path, account.pw_uid, account.pw_gid)
    server = PgServer(bindir=bindir, root=root, run_as=run_as, settings=settings)
    server.start()
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL cluster (started on first use, removed at the end)."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A URL to a fresh, empty database of its own for this test."""
    return pg_server.url(pg_server.create_database())
