"""The scheduler under qasync, where the asyncio loop is the Qt loop (the GUI's setup)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from vmrestore import model
from vmrestore.engine import JobContext, Journal, Scheduler, StateStore


class BlockingJob:
    kind = "test.qasync"
    title = "Under qasync"
    resource_keys = ("vm:vm-1",)

    def __init__(self) -> None:
        self.thread_saw_cancel = False

    async def run(self, ctx: JobContext) -> Any:
        ctx.progress(0.5, "half")

        def work() -> None:
            ctx.progress(0.6, "from thread")
            self.thread_saw_cancel = ctx.cancel_event.wait(10)

        await ctx.run_blocking(work)


def test_scheduler_runs_under_qasync(state: StateStore, journal: Journal) -> None:
    # Plain imports: PySide6 and qasync are test requirements, and a missing one must fail, never skip.
    import qasync
    from PySide6 import QtWidgets as qtwidgets

    app = qtwidgets.QApplication.instance() or qtwidgets.QApplication([])
    loop = qasync.QEventLoop(app)
    seen: list[tuple[str, float | None, bool]] = []
    main_thread = threading.get_ident()

    async def scenario() -> BlockingJob:
        sched = Scheduler(state, journal)
        job = BlockingJob()
        handle = sched.submit(job)
        handle.add_listener(lambda h: seen.append(
            (str(h.state), h.progress.fraction, threading.get_ident() == main_thread)))
        while handle.progress.text != "from thread":
            await asyncio.sleep(0.01)
        handle.cancel()
        await handle.wait()
        assert handle.state is model.JobState.CANCELLED
        await sched.shutdown()
        return job

    try:
        job = loop.run_until_complete(asyncio.wait_for(scenario(), 20))
    finally:
        loop.close()
    assert job.thread_saw_cancel
    assert ("running", 0.5, True) in seen and ("running", 0.6, True) in seen
    assert seen[-1][0] == "cancelled" and all(on_main for _, _, on_main in seen)
