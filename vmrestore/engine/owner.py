"""Which process owns a journal entry, and whether that process is still alive.

Each running vmrestore holds an exclusive OS lock on ``<home>/owners/<token>.lock`` for its whole
lifetime. Another process tests liveness by trying to take that lock: the kernel releases it when the
holder dies, however it dies, so a free lock means "dead" even if the pid has since been reused by an
unrelated program. The token (host, pid, random part) is unique per process start and is what the
journal records as ``owner``.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from vmrestore.engine import oslock

_TOKEN_RE = re.compile(r"^[A-Za-z0-9._-]+$")


def _safe_host() -> str:
    host = socket.gethostname() or "host"
    return re.sub(r"[^A-Za-z0-9.-]", "_", host)[:40]


def os_user() -> str:
    """The OS account running this process (``USERNAME`` on Windows); ``?`` if the OS will not say."""
    try:
        return getpass.getuser()
    except Exception:  # no login name, no USER/USERNAME variable
        return "?"


class ProcessOwner:
    """This process's identity in the journal; holds its owner lock until :meth:`close`."""

    def __init__(self, home: str | os.PathLike[str], *, prune: bool = True) -> None:
        """Take this process's lock in ``<home>/owners``; dead owners' lock files are pruned."""
        self.owners_dir = Path(home) / "owners"
        self.owners_dir.mkdir(parents=True, exist_ok=True)
        self.host = _safe_host()
        self.pid = os.getpid()
        self.user = os_user()
        self.started = datetime.now(UTC)
        self.token = f"{self.host}-{self.pid}-{uuid.uuid4().hex[:12]}"
        self._fd: int | None = self._acquire()
        if prune:
            self.prune_dead()

    @classmethod
    def for_home(cls, home: str | os.PathLike[str]) -> ProcessOwner:
        """The owner for a vmrestore home directory (same as the constructor; reads better)."""
        return cls(home)

    def _lock_path(self, token: str) -> Path:
        if not _TOKEN_RE.match(token):
            raise ValueError(f"not an owner token: {token!r}")
        return self.owners_dir / f"{token}.lock"

    def _acquire(self) -> int:
        path = self._lock_path(self.token)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if not oslock.try_lock(fd):
                os.close(fd)
                raise RuntimeError(f"owner lock {path} is already held: token collision")
            # A pruner may have opened, locked and unlinked the fresh file between our open and our
            # lock (it saw it unlocked = "dead"). Then we would hold a lock on a nameless inode and
            # look dead to everyone; check that the name still points to our file, else start over.
            # On Windows an open file cannot be unlinked, so the race does not exist there.
            if sys.platform == "win32":
                return fd
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            oslock.unlock(fd)
            os.close(fd)

    def is_alive(self, token: str) -> bool:
        """``True`` while the process that wrote ``token`` still runs (holds its lock)."""
        if token == self.token:
            return self._fd is not None
        try:
            fd = os.open(self._lock_path(token), os.O_RDWR)
        except FileNotFoundError:
            # The file is created and locked before a process writes any journal entry, and only
            # removed once its lock is free: a missing file means the owner is gone.
            return False
        except ValueError:
            return False
        try:
            if oslock.try_lock(fd):
                oslock.unlock(fd)
                return False
            return True
        finally:
            os.close(fd)

    def prune_dead(self) -> int:
        """Delete lock files of dead owners (one per past process start); returns how many.

        Safe because tokens are never reused and a missing file already reads as "dead".
        """
        removed = 0
        for path in self.owners_dir.glob("*.lock"):
            token = path.name[: -len(".lock")]
            if token == self.token or self.is_alive(token):
                continue
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass  # someone else pruned it, or Windows says it is open: harmless either way
        return removed

    def close(self) -> None:
        """Release the lock (this process's entries now count as orphaned) and remove the file."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        oslock.unlock(fd)
        os.close(fd)
        try:
            self._lock_path(self.token).unlink()
        except OSError:
            pass

    release = close

    def __repr__(self) -> str:
        return f"ProcessOwner({self.token!r})"
