"""Try a shared-catalog URL once and say, in plain words, why it does not work (Settings › Catalog, ``catalog test``).

One short connection, read-only: the server's version, whether the link is TLS, and how far the catalog's
schema is (a database a newer vmrestore moved past is refused, as ``open_store`` would). Nothing is created
or migrated here: a test must leave the server as it found it. libpq's failure texts are turned into what
an admin can act on (wrong password, unknown database, server not reachable, TLS required, certificate not
trusted); the URL, and with it any password, never appears in a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vmrestore.catalog.pg_schema import LATEST

CONNECT_TIMEOUT = 10  # seconds: libpq's connect_timeout (per address tried)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    server: str  # host[:port] or the socket folder; never the user or password
    version: str | None  # e.g. "16.4", None when no connection was made
    tls: bool
    message: str


# (pattern in libpq's text, plain words); the first that matches wins.
_REASONS: tuple[tuple[str, str], ...] = (
    (r"password authentication failed|authentication failed for user",
     "Wrong user name or password: the server refused the login."),
    (r"no password supplied|fe_sendauth",
     "The server wants a password and none was given: type the password."),
    (r"database \".*\" does not exist",
     "The server has no such database: check the database name (the part after the last /)."),
    (r"role \".*\" does not exist", "The server has no such user: check the user name."),
    (r"certificate verify failed|root certificate file .* does not exist|certificate is not trusted|"
     r"self[- ]signed certificate|unable to get local issuer",
     "The server's TLS certificate is not trusted: give the CA certificate that signed it (sslrootcert=...) "
     "or ask the database admin for it."),
    (r"server certificate for .* does not match host name|does not match host name",
     "The server's TLS certificate is for another name: connect with the name the certificate shows."),
    (r"server does not support SSL",
     "The server does not offer TLS but the URL requires it (sslmode): ask the database admin to enable TLS."),
    (r"no pg_hba\.conf entry.*no encryption|SSL connection is required|hostssl",
     "The server accepts only TLS connections: add sslmode=verify-full&sslrootcert=<CA file> to the URL."),
    (r"no pg_hba\.conf entry",
     "The server does not accept this user from this computer (pg_hba.conf): ask the database admin."),
    (r"connection refused|could not translate host name|name or service not known|no route to host|"
     r"timeout expired|timed out|network is unreachable|no such file or directory|could not connect",
     "The server cannot be reached: check the host name and port, and that PostgreSQL is running "
     "and a firewall lets this computer in."),
)


def password_problem(text: str) -> str | None:
    """``"missing"`` when the server wants a password and none was given, ``"wrong"`` when it refused the one
    given, else ``None`` (libpq says so only in words: one place reads them, next to :func:`plain_reason`)."""
    if re.search(r"no password supplied|fe_sendauth", text, re.I):
        return "missing"
    if re.search(r"password authentication failed|authentication failed for user", text, re.I):
        return "wrong"
    return None


def plain_reason(text: str) -> str:
    """libpq's text (any language-neutral English part of it) as words an admin can act on."""
    for pattern, words in _REASONS:
        if re.search(pattern, text, re.IGNORECASE | re.DOTALL):
            return words
    first = text.strip().splitlines()[-1] if text.strip() else "unknown error"
    first = re.sub(r"postgres(?:ql)?://\S+", "postgresql://…", first)
    return f"The catalog server refused the connection: {first}"


def server_of(url: str) -> str:
    """Where the URL points, without user or password: ``host:port``, or the socket folder."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except Exception:
        return "?"
    host = str(params.get("host") or "localhost")
    port = params.get("port")
    return f"{host}:{port}" if port and not host.startswith("/") else host


def probe(url: str, password: str | None = None, timeout: int = CONNECT_TIMEOUT) -> ProbeResult:
    """Connect once (blocking: call from an executor); never raises for a server-side failure."""
    import psycopg

    server = server_of(url)
    extra: dict[str, object] = {"connect_timeout": timeout}
    if password:
        extra["password"] = password
    try:
        conn = psycopg.connect(url, autocommit=True, **extra)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        return ProbeResult(False, server, None, False, _scrub(plain_reason(str(exc)), password))
    except Exception as exc:  # a malformed URL: libpq's parser error
        return ProbeResult(False, server, None, False, _scrub(f"The URL is not valid: {exc}", password))
    try:
        tls = bool(conn.pgconn.ssl_in_use)
        version = _version(conn.info.server_version)
        found = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        schema = 0
        if found and found[0]:
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
            schema = int(row[0]) if row else 0
    except psycopg.Error as exc:
        return ProbeResult(False, server, None, False, _scrub(plain_reason(str(exc)), password))
    finally:
        conn.close()
    link = "over TLS" if tls else "without TLS"
    if schema > LATEST:
        return ProbeResult(False, server, version, tls,
                           f"This catalog was moved to schema {schema} by a newer vmrestore; this one knows up to "
                           f"{LATEST}: update vmrestore on this computer.")
    state = (f"catalog schema {schema}, up to date" if schema == LATEST
             else "empty database: the catalog is created on first use" if schema == 0
             else f"catalog schema {schema}: brought up to {LATEST} on first use")
    return ProbeResult(True, server, version, tls, f"Connected to PostgreSQL {version} {link}; {state}.")


def _version(number: int) -> str:
    """libpq's integer (160004) as people write it (16.4)."""
    return f"{number // 10000}.{number % 10000}" if number >= 100000 else str(number)


def _scrub(text: str, password: str | None) -> str:
    return text.replace(password, "***") if password else text
