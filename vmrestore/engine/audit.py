"""The tamper-evident audit log: an append-only, hash-chained JSON-lines file (``<home>/audit.log``).

Each line is one entry; its ``hash`` is SHA-256 over the canonical JSON of every other field,
``prev_hash`` included, so changing, removing or reordering a line breaks the chain where it happened.
A chain alone cannot show that its *last* lines were cut off, so the head (last seq and hash) is also
kept outside the file: in the state store, or in a ``<log>.head`` sidecar when no store is given.

Appends from several processes (the GUI and a CLI run) are serialised by an OS lock on
``<log>.lock``; each append is fsynced before the head moves, so a crash leaves at most the head one
entry behind, which :meth:`AuditLog.verify` accepts when that entry chains onto the recorded head.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from vmrestore.engine import oslock
from vmrestore.engine.state import StateStore

GENESIS = "0" * 64

_FIELDS = ("seq", "time", "os_user", "vcenter_user", "role", "action", "target", "result", "detail",
           "prev_hash", "hash")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: datetime
    os_user: str
    vcenter_user: str | None
    role: str
    action: str
    target: str
    result: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str



@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)


class AuditStore(Protocol):
    """Where audit entries go: this file log, or the team's PostgreSQL table (``audit_pg.PgAuditLog``)."""

    def append(self, *, action: str, target: str, result: str, role: str, vcenter_user: str | None,
               detail: dict[str, Any] | None = None) -> AuditEntry: ...

    def entries(self, since: datetime | None = None) -> list[AuditEntry]: ...

    def verify(self) -> AuditVerification: ...


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _hash_of(body: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in body.items() if k != "hash"})).hexdigest()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no USER/USERNAME and no passwd entry (containers, services)
        return os.environ.get("USERNAME") or os.environ.get("USER") or "unknown"


def _parse(line: bytes) -> tuple[AuditEntry, dict[str, Any]]:
    raw = json.loads(line)
    if not isinstance(raw, dict) or set(raw) != set(_FIELDS):
        raise ValueError("not an audit entry")
    entry = AuditEntry(
        seq=int(raw["seq"]), time=datetime.fromisoformat(raw["time"]), os_user=str(raw["os_user"]),
        vcenter_user=raw["vcenter_user"], role=str(raw["role"]), action=str(raw["action"]),
        target=str(raw["target"]), result=str(raw["result"]), detail=dict(raw["detail"]),
        prev_hash=str(raw["prev_hash"]), hash=str(raw["hash"]),
    )
    return entry, raw


class AuditLog:
    """Append-only, hash-chained audit log, safe for concurrent processes."""

    def __init__(self, path: str | os.PathLike[str], head_store: StateStore | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._sidecar = self.path.with_name(self.path.name + ".head")
        self._head_store = head_store
        self._key = os.path.normcase(os.path.abspath(self.path))

    # -- writing ------------------------------------------------------------------------------------

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
        """Append one entry (fsynced) and move the recorded head. ``detail`` must hold no secret."""
        with self._locked():
            tail = self._tail()
            head = self._read_head()
            # Chain from whichever is further: the head when the file's tail was cut (so the gap
            # stays visible forever instead of being papered over by the next append), the file's
            # tail when a crash stopped the head from moving.
            base = head if head is not None and (tail is None or head[0] >= tail[0]) else tail
            seq, prev_hash = (base[0] + 1, base[1]) if base else (1, GENESIS)
            body: dict[str, Any] = {
                "seq": seq, "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                "os_user": _os_user(), "vcenter_user": vcenter_user, "role": str(role),
                "action": str(action), "target": target, "result": result, "detail": dict(detail or {}),
                "prev_hash": prev_hash,
            }
            body["hash"] = _hash_of(body)
            line = _canonical(body) + b"\n"
            with open(self.path, "ab") as f:
                if f.tell() > 0 and not self._ends_with_newline():
                    line = b"\n" + line  # a torn last line stays its own (unparsable) line
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self._write_head(seq, body["hash"])
        return _parse(_canonical(body))[0]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            oslock.lock(fd)
            try:
                yield
            finally:
                oslock.unlock(fd)
        finally:
            os.close(fd)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def _tail(self) -> tuple[int, str] | None:
        """Seq and hash of the last parsable line, reading backwards (the log grows for years)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return None
        chunk = 65536
        with open(self.path, "rb") as f:
            while True:
                start = max(0, size - chunk)
                f.seek(start)
                lines = f.read(size - start).split(b"\n")
                if start > 0:
                    lines = lines[1:]  # the first piece may be a partial line
                for line in reversed(lines):
                    if line.strip():
                        try:
                            entry, _ = _parse(line)
                        except (ValueError, TypeError, KeyError):
                            continue
                        return entry.seq, entry.hash
                if start == 0:
                    return None
                chunk *= 4

    def _read_head(self) -> tuple[int, str] | None:
        if self._head_store is not None:
            rows = self._head_store.query("SELECT seq, hash FROM audit_head WHERE log = ?", (self._key,))
            return (int(rows[0]["seq"]), str(rows[0]["hash"])) if rows else None
        try:
            data = json.loads(self._sidecar.read_text("ascii"))
            return int(data["seq"]), str(data["hash"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None

    def _write_head(self, seq: int, digest: str) -> None:
        if self._head_store is not None:
            self._head_store.execute(
                "INSERT INTO audit_head (log, seq, hash) VALUES (?, ?, ?)"
                " ON CONFLICT(log) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                (self._key, seq, digest),
            )
            return
        tmp = self._sidecar.with_name(self._sidecar.name + ".tmp")
        with open(tmp, "w", encoding="ascii") as f:
            json.dump({"seq": seq, "hash": digest}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._sidecar)

    # -- reading ------------------------------------------------------------------------------------

    def _lines(self) -> list[bytes]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        return lines

    def entries(self, since: datetime | None = None) -> list[AuditEntry]:
        """Parsable entries in file order, optionally only those at or after ``since``."""
        result = []
        for line in self._lines():
            try:
                entry, _ = _parse(line)
            except (ValueError, TypeError, KeyError):
                continue
            if since is None or entry.time >= since:
                result.append(entry)
        return result

    def verify(self) -> AuditVerification:
        """Check every line, the chain, the order and the tail against the recorded head."""
        problems: list[str] = []
        parsed: list[tuple[int, AuditEntry]] = []
        for lineno, line in enumerate(self._lines(), start=1):
            try:
                entry, raw = _parse(line)
            except (ValueError, TypeError, KeyError):
                problems.append(f"line {lineno}: unparsable line")
                continue
            parsed.append((lineno, entry))
            if _hash_of(raw) != entry.hash:
                problems.append(f"entry seq {entry.seq} (line {lineno}) changed: its hash does not match")

        by_seq: dict[int, AuditEntry] = {}
        highest = 0
        for lineno, entry in parsed:
            if entry.seq in by_seq:
                problems.append(f"entry seq {entry.seq} (line {lineno}) duplicated")
                continue
            if entry.seq < highest:
                problems.append(
                    f"entries reordered: seq {entry.seq} at line {lineno} comes after seq {highest}"
                )
            highest = max(highest, entry.seq)
            by_seq[entry.seq] = entry

        missing = sorted(set(range(1, highest + 1)) - set(by_seq))
        for first, last in _ranges(missing):
            problems.append(f"entries {first}..{last} removed")

        for seq, entry in sorted(by_seq.items()):
            expected = GENESIS if seq == 1 else (by_seq[seq - 1].hash if seq - 1 in by_seq else None)
            if expected is not None and entry.prev_hash != expected:
                problems.append(f"chain broken at seq {seq}: it does not follow the entry before it")

        head = self._read_head()
        if head is None:
            if by_seq:
                problems.append("no chain head recorded for this log: its tail cannot be checked")
        else:
            head_seq, head_hash = head
            if head_seq > highest:
                problems.append(f"truncated tail: entries {highest + 1}..{head_seq} removed")
            elif head_seq == highest and highest and by_seq[highest].hash != head_hash:
                problems.append(f"entry seq {highest} changed: the last entry differs from the recorded head")
            elif head_seq < highest:
                # A crash between the fsync and the head update leaves the head exactly one behind.
                follows = head_seq == highest - 1 and by_seq[highest].prev_hash == head_hash
                if not follows:
                    problems.append(f"recorded head (seq {head_seq}) is behind the log (seq {highest})")
        return AuditVerification(ok=not problems, entries=len(parsed), problems=problems)


def _ranges(numbers: list[int]) -> Iterator[tuple[int, int]]:
    if not numbers:
        return
    start = prev = numbers[0]
    for n in numbers[1:]:
        if n != prev + 1:
            yield start, prev
            start = n
        prev = n
    yield start, prev


__all__ = ["GENESIS", "AuditEntry", "AuditLog", "AuditVerification"]
