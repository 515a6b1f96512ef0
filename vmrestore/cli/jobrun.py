"""Running an engine job from the command line: progress to stderr, Ctrl+C cancels the job cleanly."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from vmrestore.app.ports import JobRunner, JobView
from vmrestore.errors import Cancelled
from vmrestore.model import JobState

if TYPE_CHECKING:
    from vmrestore.app.ports import JobSpec


def run_job(runner: JobRunner, job: JobSpec, *, quiet: bool = False) -> Any:
    """Submit ``job``, wait for it, return its result or raise its error."""
    import asyncio  # here: the read-only commands importing this module never run a job (start-up, issue 13 §6)

    async def main() -> JobView:
        handle: JobView = runner.submit(job)
        last = [""]

        def show(h: JobView) -> None:
            text = h.progress.text
            if not quiet and text != last[0]:
                last[0] = text
                pct = f"{h.progress.fraction * 100:5.1f}% " if h.progress.fraction is not None else ""
                print(f"  {pct}{text}", file=sys.stderr, flush=True)

        handle.add_listener(show)
        try:
            await handle.wait()
        except asyncio.CancelledError:
            handle.cancel()
            await handle.wait()
        finally:
            await runner.shutdown()
        return handle

    try:
        handle = asyncio.run(main())
    except KeyboardInterrupt as exc:
        raise Cancelled("Cancelled by Ctrl+C") from exc
    if handle.state is JobState.DONE:
        return handle.result
    if handle.error is not None:
        raise handle.error
    raise Cancelled(f"{job.title} was cancelled")
