"""The audit log on the team's PostgreSQL server: what an operator cannot rewrite (issue 12 §3).

With a shared catalog the audit entries go to its database, table ``audit_log`` (created by the catalog
schema, ``catalog.pg_schema`` migration 2), not to a file in the operator's own home folder. Operators
connect through a role that may only ``SELECT`` and ``INSERT`` it (docs/shared-catalog.md lists the
grants), and a trigger refuses ``UPDATE``, ``DELETE`` and ``TRUNCATE`` for everyone, the table's owner
included, so a change needs a deliberate ``ALTER TABLE … DISABLE TRIGGER`` by the database owner, which
``verify`` still catches.

Entries are the same as the file log's (``engine.audit``): the same fields, the same canonical JSON and
SHA-256, so ``audit verify`` reads both alike. The chain stays linear with several workstations writing
at once: each append takes a transaction-scoped advisory lock, reads the head and inserts ``seq + 1``;
``seq`` is the primary key and ``prev_hash`` is unique, so even a writer that skipped the lock could only
fail, never fork the chain.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg

from vmrestore.engine.audit import GENESIS, AuditEntry, AuditVerification, _canonical, _hash_of, _os_user
from vmrestore.errors import Transient

_LOCK = (0x766D7273, 10)  # pg_advisory_xact_lock("vmrs", audit)
_COLUMNS = "seq, time, os_user, vcenter_user, role, action, target, result, detail, prev_hash, hash"


class PgAuditLog:
    """The hash-chained audit log in a PostgreSQL table, safe for many writers on many workstations."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, connect_timeout=15)
        except psycopg.OperationalError as exc:
            raise Transient("Cannot reach the shared audit log's server") from exc

    def append(
        self,
        *,
        action: str,
        target: str,
        result: str,
        role: str,
        vcenter_user: str | None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry after the current head (committed before this returns)."""
        with self._connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", _LOCK)
            head = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev_hash = (int(head[0]) + 1, str(head[1])) if head else (1, GENESIS)
            body: dict[str, Any] = {
                "seq": seq, "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                "os_user": _os_user(), "vcenter_user": vcenter_user, "role": str(role),
                "action": str(action), "target": target, "result": result, "detail": dict(detail or {}),
                "prev_hash": prev_hash,
            }
            body["hash"] = _hash_of(body)
            conn.execute(
                f"INSERT INTO audit_log ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (seq, body["time"], body["os_user"], vcenter_user, body["role"], body["action"], target, result,
                 _canonical(body["detail"]).decode("ascii"), prev_hash, body["hash"]),
            )
        return _entry(body)

    def _rows(self, since: datetime | None = None) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq").fetchall()
        bodies = []
        for row in rows:
            body = dict(zip(_COLUMNS.split(", "), row, strict=True))
            body["detail"] = json.loads(body["detail"])
            if since is None or datetime.fromisoformat(body["time"]) >= since:
                bodies.append(body)
        return bodies

    def entries(self, since: datetime | None = None) -> list[AuditEntry]:
        return [_entry(b) for b in self._rows(since)]

    def verify(self) -> AuditVerification:
        """Every row's hash, and one unbroken chain 1..n from the genesis hash."""
        problems: list[str] = []
        bodies = self._rows()
        expected_prev, previous_seq = GENESIS, 0
        for body in bodies:
            seq = int(body["seq"])
            if seq != previous_seq + 1:
                problems.append(f"entries {previous_seq + 1}..{seq - 1} removed")
            previous_seq = seq
            if _hash_of(body) != body["hash"]:
                problems.append(f"entry seq {seq} changed: its hash does not match")
            if body["prev_hash"] != expected_prev:
                problems.append(f"chain broken at seq {seq}: it does not follow the entry before it")
            expected_prev = str(body["hash"])
        return AuditVerification(ok=not problems, entries=len(bodies), problems=problems)


def _entry(body: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        seq=int(body["seq"]), time=datetime.fromisoformat(body["time"]), os_user=str(body["os_user"]),
        vcenter_user=body["vcenter_user"], role=str(body["role"]), action=str(body["action"]),
        target=str(body["target"]), result=str(body["result"]), detail=dict(body["detail"]),
        prev_hash=str(body["prev_hash"]), hash=str(body["hash"]),
    )
