"""The cross-process lock of one VM for the length of a job step: mount onto it, copy into it, unmount from it.

The scheduler already serialises jobs per VM inside one process. Two processes of one workstation (the GUI
and a shell) meet at the OS lock in ``<home>/locks``; two workstations with a shared catalog meet at the
server's advisory lock (``engine.resourcelock``). A second mount onto a VM that another process is mounting
onto is refused at once, naming who holds it, rather than queued behind a colleague's work it cannot see:
the operator decides whether to wait or to ask them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from vmrestore.engine.jobcontext import JobContext
from vmrestore.engine.resourcelock import resource_lock, vm_key


@asynccontextmanager
async def vm_locked(ctx: JobContext, home: Path, server: str, vm: str, vm_name: str) -> AsyncIterator[None]:
    """Hold VM ``vm`` (moid) of ``server`` for the block, or raise ``ResourceBusy`` naming the holder.

    The lock is taken and let go on executor threads (a server round trip); OS and advisory locks belong
    to their file or connection, not to a thread, so that is safe.
    """
    held = resource_lock(home, vm_key(server, vm), timeout=0, on_wait=f"VM {vm_name}")
    await ctx.run_blocking(held.__enter__)
    try:
        yield
    finally:
        await ctx.run_blocking(held.__exit__, None, None, None)
