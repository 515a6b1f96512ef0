"""A second throwaway PostgreSQL cluster for connection tests: TLS and password logins on a loopback port.

The session cluster (``postgres_fixtures``) trusts everyone on its Unix socket, which is what most catalog
tests want but cannot show a wrong password or a refused TLS handshake. This one listens on 127.0.0.1 (a free
port picked at start), with ``ssl=on`` and a server certificate signed by a throwaway CA made here with
``cryptography``, and its pg_hba.conf accepts TCP logins only over TLS with a SCRAM password
(``hostssl … scram-sha-256``); the socket stays ``trust`` for the bench's own psql.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from tests.bench.postgres_fixtures import SUPERUSER, _bindir

USER = "desk"
PASSWORD = "S3cret-pw!"  # the test role's password; tests check it never leaks


@dataclass
class TlsPgServer:
    root: str
    port: int
    ca_file: str  # the CA that signed the server certificate
    other_ca_file: str  # a CA that did not
    bindir: str

    def url(self, database: str = "postgres", user: str = USER, password: str | None = PASSWORD,
            query: str = "") -> str:
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}" + (f"?{query}" if query else "")

    def verify_full(self, ca: str | None = None) -> str:
        return f"sslmode=verify-full&sslrootcert={quote(ca or self.ca_file, safe='')}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", os.path.join(self.root, "sock"), "-p", str(self.port), "-U", SUPERUSER, "-d", database,
             "-c", sql],
            capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout


def _ca(name: str) -> tuple[object, object]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _write_pki(root: str) -> tuple[str, str, str, str]:
    """CA, other CA, server cert (127.0.0.1 and localhost), server key: PEM files in ``root``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_key, ca_cert = _ca("vmrestore test CA")
    _, other_cert = _ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())  # type: ignore[attr-defined]
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    paths = [os.path.join(root, n) for n in ("ca.pem", "other-ca.pem", "server.crt", "server.key")]
    pem = serialization.Encoding.PEM
    for path, c in zip(paths[:3], (ca_cert, other_cert, cert), strict=True):
        with open(path, "wb") as f:
            f.write(c.public_bytes(pem))  # type: ignore[attr-defined]
    with open(paths[3], "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for p in paths:
        os.chmod(p, 0o644)
    os.chmod(paths[3], 0o600)
    return paths[0], paths[1], paths[2], paths[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_tls_server() -> Iterator[TlsPgServer]:
    """The TLS + password cluster (about two seconds to start), with role ``desk`` and its password."""
    bindir = _bindir()
    run_as = "postgres" if os.geteuid() == 0 else None
    root = tempfile.mkdtemp(prefix="vmrestore-pgtls-")
    os.chmod(root, 0o755)
    sock = os.path.join(root, "sock")
    os.makedirs(sock)
    os.chmod(sock, 0o777)
    ca, other, crt, key = _write_pki(root)
    data = os.path.join(root, "data")
    if run_as:
        account = pwd.getpwnam(run_as)
        for path in (root, sock, key, crt):
            os.chown(path, account.pw_uid, account.pw_gid)

    def cmd(*argv: str) -> list[str]:
        return ["runuser", "-u", run_as, "--", *argv] if run_as else list(argv)

    subprocess.run(cmd(os.path.join(bindir, "initdb"), "-D", data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                       "--locale=C.UTF-8", "--no-sync"), check=True, capture_output=True, timeout=120)
    hba = os.path.join(root, "pg_hba.conf")
    with open(hba, "w") as f:
        f.write("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n")
    os.chmod(hba, 0o644)
    port = _free_port()
    options = " ".join([
        "-c listen_addresses=127.0.0.1", f"-c port={port}", f"-c unix_socket_directories={sock}", "-c fsync=off",
        "-c ssl=on", f"-c ssl_cert_file={crt}", f"-c ssl_key_file={key}", f"-c hba_file={hba}",
        "-c password_encryption=scram-sha-256",
    ])
    log = os.path.join(root, "server.log")
    result = subprocess.run(cmd(os.path.join(bindir, "pg_ctl"), "-D", data, "-l", log, "-o", options, "-w",
                                "-t", "60", "start"), capture_output=True, text=True, timeout=70)
    if result.returncode != 0:
        with open(log, errors="replace") as f:
            raise RuntimeError(f"TLS PostgreSQL did not start: {result.stderr}\n{f.read()[-2000:]}")
    server = TlsPgServer(root=root, port=port, ca_file=ca, other_ca_file=other, bindir=bindir)
    try:
        server.psql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        yield server
    finally:
        subprocess.run(cmd(os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"),
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
