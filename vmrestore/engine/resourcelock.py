"""A lock on a named resource shared by every vmrestore process of this user (same ``VMRESTORE_HOME``).

The scheduler serialises jobs per resource key inside one process; two processes (the desktop app and a
scheduled ``vmrestore snapshots cleanup``, or two shells) need the operating system's help. One file
per key under ``<home>/locks``, held with an OS lock (:mod:`oslock`): the kernel releases it the instant
the holder dies, however it dies, so a crashed process never leaves a datastore locked.

Several workstations with a shared (PostgreSQL) catalog have different homes, so their file locks never
meet. The app then installs :class:`SharedLocks` (:func:`use_shared_locks`; the catalog's server
advisory locks) and :func:`resource_lock` takes that lock too, after the OS lock: two desks never
overlap either, and a dead desk's lock goes with its database session.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from vmrestore.engine import oslock
from vmrestore.errors import Cancelled, ResourceBusy
from vmrestore.model import ResourceKey

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class SharedLock(Protocol):
    """One key's lock on a server every workstation sees."""

    def try_acquire(self) -> bool:
        """Take the lock if free; ``False`` while another holder has it."""

    def release(self) -> None:
        """Let go (idempotent); also when it was never acquired."""

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock now (``workstation``, ``user``, ``pid``, ``token``), if the server can say."""


class SharedLocks(Protocol):
    def lock(self, key: str) -> SharedLock:
        """A handle on ``key``'s lock (not yet taken)."""


_shared: SharedLocks | None = None


def use_shared_locks(locks: SharedLocks | None) -> None:
    """Make every :func:`resource_lock` of this process also take ``locks`` (``None``: OS locks only)."""
    global _shared
    _shared = locks


def shared_locks() -> SharedLocks | None:
    return _shared


def lock_path(home: str | Path, key: str) -> Path:
    """The lock file of ``key``: readable name plus a hash (keys may hold any character)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    readable = _UNSAFE.sub("_", key)[:60].strip("_") or "key"
    return Path(home) / "locks" / f"{readable}-{digest}.lock"


@contextmanager
def resource_lock(
    home: str | Path,
    key: str,
    *,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
    on_wait: str | None = None,
) -> Iterator[None]:
    """Hold the cross-process lock of ``key`` for the ``with`` block (blocking: call it off the UI thread).

    Waits while another process holds it: forever unless ``timeout`` (then :class:`ResourceBusy`, naming
    the holding workstation when the lock is the shared catalog's; ``timeout=0`` refuses at once), and
    ``cancel`` set while waiting raises ``Cancelled``. ``on_wait`` is only for the error message.
    """
    path = lock_path(home, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _wait(lambda: oslock.try_lock(fd), key, deadline, cancel, on_wait, None)
        try:
            shared = _shared.lock(key) if _shared is not None else None
            try:
                if shared is not None:
                    _wait(shared.try_acquire, key, deadline, cancel, on_wait, shared)
                yield
            finally:
                if shared is not None:
                    shared.release()
        finally:
            oslock.unlock(fd)
    finally:
        os.close(fd)


def _wait(take: Callable[[], bool], key: str, deadline: float | None, cancel: threading.Event | None,
          on_wait: str | None, shared: SharedLock | None) -> None:
    delay = 0.005
    while not take():
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"Cancelled while waiting for {on_wait or key}")
        if deadline is not None and time.monotonic() >= deadline:
            raise _busy(on_wait or key, shared)
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _busy(what: str, shared: SharedLock | None) -> ResourceBusy:
    """The refusal, naming the holder when the server can (a colleague to ask, not a vague "someone")."""
    if shared is None:
        return ResourceBusy(f"{what} is busy in another vmrestore process; try again later")
    try:
        holder = shared.holder()
    except Exception:  # the server went away while we asked: the refusal still stands
        holder = None
    if holder is None:
        return ResourceBusy(f"{what} is busy in another workstation; try again later")
    return ResourceBusy(f"{what} is busy in another workstation: {holder.get('user') or '?'} on "
                        f"{holder.get('workstation') or '?'} (process {holder.get('pid') or '?'}); try again later",
                        holder)


def datastore_key(server: str, datastore: str) -> str:
    """The lock key of one datastore of one vCenter."""
    return str(ResourceKey.datastore(server, datastore))


def vm_key(server: str, vm: str) -> str:
    """The lock key of one VM (its moid) of one vCenter: a mount onto it, an unmount from it."""
    return str(ResourceKey.vm_of(server, vm))
