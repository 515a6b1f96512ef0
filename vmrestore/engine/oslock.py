"""Exclusive advisory locks on an open file, on Windows and POSIX.

Why OS locks rather than pid files: the kernel drops a lock the instant its process dies, however it
dies (crash, SIGKILL, power button on a VM), so "the lock is free" is a reliable "the holder is gone"
even when the pid has been reused since. Both the owner registry and the audit log build on this.
"""

from __future__ import annotations

import os
import sys
import time

if sys.platform == "win32":
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Take an exclusive lock on byte 0 of ``fd`` without waiting; ``False`` if someone holds it."""
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def unlock(fd: int) -> None:
        """Release the lock taken by :func:`try_lock` / :func:`lock`."""
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """Take an exclusive lock on ``fd`` without waiting; ``False`` if someone holds it.

        ``flock`` locks belong to the open file description, so a second ``open`` of the same file in
        this very process conflicts too: a process can test another owner's liveness (or its own
        lock file through a second descriptor) and get the true answer.
        """
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def unlock(fd: int) -> None:
        """Release the lock taken by :func:`try_lock` / :func:`lock`."""
        fcntl.flock(fd, fcntl.LOCK_UN)


def lock(fd: int, timeout: float = 30.0) -> None:
    """Wait (polling) until the exclusive lock on ``fd`` is ours.

    Polling rather than a blocking call: ``msvcrt.LK_LOCK`` gives up after 10 s on its own terms, and a
    bounded wait lets a wedged peer surface as an error instead of a hung window.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not try_lock(fd):
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out waiting for a file lock held by another vmrestore process")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
