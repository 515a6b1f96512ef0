"""The job scheduler: queues jobs until their resources are free, runs them on the asyncio loop, turns
their outcome into values, and persists their records for ``vmrestore jobs list``.

Loop-agnostic on purpose: only ``asyncio`` APIs, so the same scheduler runs under ``asyncio.run`` (CLI,
tests) and under qasync (the GUI, where the asyncio loop *is* the Qt loop and nothing may block it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from vmrestore import model
from vmrestore.engine.jobcontext import Job, JobContext, JobHandle, JobRecord, Listener
from vmrestore.engine.journal import Journal
from vmrestore.engine.state import StateStore
from vmrestore.engine.sweep import Sweeper
from vmrestore.errors import Cancelled, VmrestoreError
from vmrestore.model import ResourceKey

__all__ = ["Job", "JobContext", "JobHandle", "JobRecord", "Scheduler"]

log = logging.getLogger(__name__)

# Progress is persisted at most this often per job (state changes always): ``jobs list`` from another
# process needs a recent figure, not every tick.
_PERSIST_PROGRESS_EVERY = 1.0


def _prefix(key: str) -> str | None:
    """The kind of a ``ResourceKey`` (limits are per kind); None for a key of no known kind."""
    try:
        return str(ResourceKey.parse(key).kind)
    except ValueError:
        return None


def _capacity(limits: Mapping[str, int], key: str) -> int:
    if key in limits:
        return limits[key]
    prefix = _prefix(key)
    return limits.get(prefix, 1) if prefix is not None else 1


def _wrap(exc: BaseException, title: str) -> VmrestoreError:
    """Errors are values: anything that is not already ours becomes a VmrestoreError with the
    original kept as ``__cause__`` (for the log and the details pane), never re-raised into the UI."""
    if isinstance(exc, VmrestoreError):
        return exc
    wrapped = VmrestoreError(f"{title} failed unexpectedly: {type(exc).__name__}: {exc}")
    wrapped.__cause__ = exc
    return wrapped


class Scheduler:
    """Runs jobs with per-resource serialisation.

    ``limits`` (how many jobs may hold a key at once; every exact key defaults to 1, so two jobs on
    ``datastore:ds1`` never overlap while jobs on ``ds1`` and ``ds2`` do):

    - ``{"point": 3}``: per-key capacity looked up by prefix, each ``point:<id>`` may have 3 holders;
    - ``{"point:p1": 3}``: the capacity of that exact key (wins over the prefix entry);
    - ``{"datastore:*": 2}``: a total cap, at most 2 jobs at once over all ``datastore:`` keys.

    Queue order is FIFO per resource: a blocked job keeps later jobs that want any of its keys
    waiting, so a job needing two busy datastores is not starved by a stream of single-key jobs.

    ``sweeper``: when given, whatever a finished job left open in the journal (it failed, was
    cancelled, or forgot to release) is undone before its resources go to the next job.
    """

    def __init__(
        self,
        state: StateStore,
        journal: Journal,
        limits: Mapping[str, int] | None = None,
        *,
        sweeper: Sweeper | None = None,
        max_threads: int = 8,
        max_processes: int | None = None,
    ) -> None:
        self.state = state
        self.journal = journal
        self.limits = dict(limits or {})
        self.sweeper = sweeper
        self._threads = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="vmrestore-job")
        # One writer thread keeps job-record writes ordered and off the loop.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vmrestore-jobdb")
        self._processes: ProcessPoolExecutor | None = None
        self._max_processes = max_processes or max(1, (os.cpu_count() or 2) - 1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handles: list[JobHandle] = []
        self._queue: list[JobHandle] = []
        self._holders: dict[str, int] = {}
        self._prefix_jobs: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Listener] = []
        self._last_persist: dict[str, float] = {}
        self._closed = False

    # -- public API ---------------------------------------------------------------------------

    def submit(self, job: Job) -> JobHandle:
        """Queue ``job``; it starts as soon as its resource keys are free. Needs a running loop."""
        loop = asyncio.get_running_loop()
        if self._closed:
            raise VmrestoreError("the job scheduler is shut down")
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("a Scheduler serves one event loop")
        handle = JobHandle(uuid.uuid4().hex[:16], job, loop)
        handle._cancel_cb = self._cancel
        self._handles.append(handle)
        self._queue.append(handle)
        for cb in list(self._listeners):
            try:
                cb(handle)
            except Exception:
                log.exception("scheduler listener failed")
        self._persist(handle)
        self._pump()
        return handle

    def jobs(self) -> list[JobHandle]:
        """Jobs submitted in this process, in submission order."""
        return list(self._handles)

    def add_listener(self, cb: Listener) -> Callable[[], None]:
        """Call ``cb(handle)`` whenever a job is submitted; returns a function that unsubscribes."""
        self._listeners.append(cb)

        def unsubscribe() -> None:
            if cb in self._listeners:
                self._listeners.remove(cb)

        return unsubscribe

    def history(self, limit: int = 200) -> list[JobRecord]:
        """Job records of every process sharing the state file, newest first.

        A record still ``queued``/``running`` whose owner process is dead is reported as ``failed``
        (interrupted): that process can no longer finish it.
        """
        rows = self.state.query("SELECT * FROM jobs ORDER BY submitted DESC LIMIT ?", (limit,))
        return [self._record(row) for row in rows]

    async def shutdown(self) -> None:
        """Cancel queued and running jobs, wait for them (and their cleanup), stop the executors."""
        self._closed = True
        for handle in list(self._queue):
            self._cancel(handle)
        for handle in list(self._handles):
            if not handle.is_finished:
                handle.cancel()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._loop is not None:
            await self._loop.run_in_executor(self._writer, lambda: None)  # flush record writes
        self._threads.shutdown(wait=False)
        self._writer.shutdown(wait=False)
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)

    # -- scheduling -----------------------------------------------------------------------------

    def _fits(self, keys: set[str]) -> bool:
        for key in keys:
            if self._holders.get(key, 0) >= _capacity(self.limits, key):
                return False
        for prefix in {p for p in map(_prefix, keys) if p is not None}:
            cap = self.limits.get(f"{prefix}:*")
            if cap is not None and self._prefix_jobs.get(prefix, 0) >= cap:
                return False
        return True

    def _acquire(self, keys: set[str], delta: int) -> None:
        for key in keys:
            self._holders[key] = self._holders.get(key, 0) + delta
        for prefix in {p for p in map(_prefix, keys) if p is not None}:
            self._prefix_jobs[prefix] = self._prefix_jobs.get(prefix, 0) + delta

    def _pump(self) -> None:
        assert self._loop is not None
        blocked: set[str] = set()
        for handle in list(self._queue):
            keys = set(handle.resource_keys)
            if keys & blocked or not self._fits(keys):
                blocked |= keys
                continue
            self._queue.remove(handle)
            self._acquire(keys, +1)
            self._spawn(self._drive(handle, keys))

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None
        task: asyncio.Task[None] = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel(self, handle: JobHandle) -> None:
        if handle.is_finished:
            return
        if handle in self._queue:
            self._queue.remove(handle)
            self._spawn(self._finish(handle, model.JobState.CANCELLED,
                                     Cancelled(f"{handle.title} was cancelled before it started")))
            self._pump()  # jobs it was blocking may start now
        elif handle._task is not None and not handle._cleaning:
            handle._task.cancel()

    async def _drive(self, handle: JobHandle, keys: set[str]) -> None:
        handle._task = asyncio.current_task()
        handle.state = model.JobState.RUNNING
        handle.started = datetime.now(UTC)
        handle.progress = model.Progress(None, "Started")
        self._changed(handle, force=True)
        ctx = JobContext(handle, self.journal, self._threads, self._process_pool, self._changed)
        state = model.JobState.DONE
        error: VmrestoreError | None = None
        try:
            ctx.check_cancelled()  # cancelled between being admitted and starting
            handle.result = await handle.job.run(ctx)
        except (asyncio.CancelledError, Cancelled) as exc:
            state = model.JobState.CANCELLED
            error = exc if isinstance(exc, Cancelled) else Cancelled(f"{handle.title} was cancelled")
        except Exception as exc:
            log.warning("job %s (%s) failed", handle.id, handle.kind, exc_info=True)
            state = model.JobState.FAILED
            error = _wrap(exc, handle.title)
        handle._cleaning = True
        try:
            await self._safety_net(handle, ctx)
        finally:
            self._acquire(keys, -1)
            await self._finish(handle, state, error)
            self._pump()

    async def _safety_net(self, handle: JobHandle, ctx: JobContext) -> None:
        if self.sweeper is None:
            return
        assert self._loop is not None
        try:
            result = await self._loop.run_in_executor(self._threads, self.sweeper.undo_job, handle.id)
        except Exception:
            log.exception("cleanup after job %s failed", handle.id)
            return
        for entry in result.undone:
            ctx.log(f"cleaned up {entry.kind} {entry.resource} that the job left behind")
        for entry, reason in result.failed:
            ctx.log(f"could not clean up {entry.kind} {entry.resource}: {reason} (the next sweep retries)")

    async def _finish(self, handle: JobHandle, state: model.JobState, error: VmrestoreError | None) -> None:
        handle.state = state
        handle.error = error
        handle.finished = datetime.now(UTC)
        if state is model.JobState.DONE:
            handle.progress = model.Progress(1.0, handle.progress.text if handle.progress.text else "Done")
        handle._notify()
        try:
            await self._persist(handle)
        except Exception:
            log.exception("could not record job %s", handle.id)
        if not handle._done.done():
            handle._done.set_result(None)

    def _process_pool(self) -> Executor:
        if self._processes is None:
            # spawn everywhere: it is the only method on Windows, and forking a process that runs Qt
            # and executor threads is unsafe on POSIX.
            self._processes = ProcessPoolExecutor(
                max_workers=self._max_processes, mp_context=multiprocessing.get_context("spawn")
            )
        return self._processes

    # -- persistence --------------------------------------------------------------------------

    def _changed(self, handle: JobHandle, force: bool = False) -> None:
        handle._notify()
        now = time.monotonic()
        if force or now - self._last_persist.get(handle.id, 0.0) >= _PERSIST_PROGRESS_EVERY:
            self._last_persist[handle.id] = now
            self._persist(handle)

    def _persist(self, handle: JobHandle) -> asyncio.Future[Any]:
        """Write the handle's record on the writer thread; the values are captured now, in the loop."""
        assert self._loop is not None
        row = (
            handle.id, handle.kind, handle.title, str(handle.state), handle.progress.fraction,
            handle.progress.text, handle.submitted.isoformat(),
            handle.started.isoformat() if handle.started else None,
            handle.finished.isoformat() if handle.finished else None,
            _error_json(handle.error), self.journal.owner.token,
        )
        return self._loop.run_in_executor(self._writer, self._write_row, row)

    def _write_row(self, row: tuple[Any, ...]) -> None:
        try:
            self.state.execute(
                "INSERT INTO jobs (id, kind, title, state, fraction, text, submitted, started, finished,"
                " error, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET state = excluded.state, fraction = excluded.fraction,"
                " text = excluded.text, started = excluded.started, finished = excluded.finished,"
                " error = excluded.error",
                row,
            )
        except Exception:
            log.exception("could not record job %s", row[0])
            raise

    def _record(self, row: Any) -> JobRecord:
        state = model.JobState(row["state"])
        error = _json_or_none(row["error"])
        finished = datetime.fromisoformat(row["finished"]) if row["finished"] else None
        if state in (model.JobState.QUEUED, model.JobState.RUNNING) and not self.journal.owner.is_alive(
            row["owner"]
        ):
            state = model.JobState.FAILED
            error = {"code": "interrupted", "type": "Interrupted",
                     "message": "vmrestore ended while this job was queued or running"}
        return JobRecord(
            id=row["id"], kind=row["kind"], title=row["title"], state=state,
            progress=model.Progress(row["fraction"], row["text"]),
            submitted=datetime.fromisoformat(row["submitted"]),
            started=datetime.fromisoformat(row["started"]) if row["started"] else None,
            finished=finished, error=error, owner=row["owner"],
        )


def _error_json(error: VmrestoreError | None) -> str | None:
    return None if error is None else json.dumps(error.to_json(), sort_keys=True)


def _json_or_none(text: str | None) -> dict[str, Any] | None:
    return None if text is None else dict(json.loads(text))
