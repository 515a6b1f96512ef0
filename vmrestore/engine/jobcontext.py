"""What a running job sees (:class:`JobContext`) and what the UI holds (:class:`JobHandle`).

Kept apart from the scheduler so that job implementations import only this small surface.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from vmrestore import model
from vmrestore.engine.journal import Journal
from vmrestore.errors import Cancelled, VmrestoreError

log = logging.getLogger(__name__)

T = TypeVar("T")


@runtime_checkable
class Job(Protocol):
    """A unit of work. ``resource_keys`` (e.g. ``("datastore:ds1",)``) serialise jobs that touch the
    same thing; ``run`` reports through the context and journals each step before doing it."""

    # Read-only properties rather than plain attributes: an implementation may then use a class
    # attribute, an instance attribute or a property, and ``("vm:x",)`` type-checks as tuple[str, ...].
    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def resource_keys(self) -> tuple[str, ...]: ...

    async def run(self, ctx: JobContext) -> Any: ...


@dataclass(frozen=True)
class JobRecord:
    """A job as persisted in the state store (what ``vmrestore jobs list`` prints)."""

    id: str
    kind: str
    title: str
    state: model.JobState
    progress: model.Progress
    submitted: datetime
    started: datetime | None
    finished: datetime | None
    error: dict[str, Any] | None  # VmrestoreError.to_json()
    owner: str



Listener = Callable[["JobHandle"], None]


def _clamp(fraction: float | None) -> float | None:
    if fraction is None or math.isnan(fraction):
        return None
    return min(1.0, max(0.0, float(fraction)))


class JobHandle:
    """The live view of one submitted job. Read its attributes in the loop thread; listeners are
    called there on every state or progress change."""

    def __init__(self, job_id: str, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        self.id = job_id
        self.job = job
        self.kind = job.kind
        self.title = job.title
        self.resource_keys = tuple(job.resource_keys)
        self.state = model.JobState.QUEUED
        self.progress = model.Progress(None, "Queued")
        self.submitted = datetime.now(UTC)
        self.started: datetime | None = None
        self.finished: datetime | None = None
        self.error: VmrestoreError | None = None
        self.result: Any = None
        self.log_lines: list[str] = []
        self.cancel_event = threading.Event()
        self._loop = loop
        self._listeners: list[Listener] = []
        self._done: asyncio.Future[None] = loop.create_future()
        self._task: asyncio.Task[None] | None = None
        self._cancel_cb: Callable[[JobHandle], None] | None = None
        self._cleaning = False

    @property
    def is_finished(self) -> bool:
        return self.state in (model.JobState.DONE, model.JobState.FAILED, model.JobState.CANCELLED)

    def cancel(self) -> None:
        """Ask the job to stop; safe from any thread. A queued job never starts."""
        self.cancel_event.set()
        if self._cancel_cb is None:
            return
        cb = self._cancel_cb
        if _in_loop_thread(self._loop):
            cb(self)
        else:
            self._loop.call_soon_threadsafe(cb, self)

    def add_listener(self, cb: Listener) -> Callable[[], None]:
        """Call ``cb(handle)`` on every change; returns a function that unsubscribes."""
        self._listeners.append(cb)

        def unsubscribe() -> None:
            if cb in self._listeners:
                self._listeners.remove(cb)

        return unsubscribe

    async def wait(self) -> Any:
        """Wait until the job ended (and its record is persisted); returns ``result``.

        Never raises the job's error: errors are values (``state``/``error``), so a Qt slot awaiting
        this cannot blow up. A failed or cancelled job returns ``None``; check ``error``.
        """
        await asyncio.shield(self._done)
        return self.result if self.state is model.JobState.DONE else None

    def _notify(self) -> None:
        for cb in list(self._listeners):
            try:
                cb(self)
            except Exception:  # a broken listener must not break the job or the other listeners
                log.exception("job listener failed for %s", self.id)

    def __repr__(self) -> str:
        return f"<JobHandle {self.id} {self.kind} {self.state}>"


def _in_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class JobContext:
    """Given to ``Job.run``: progress, log, cancellation and executors for blocking work."""

    def __init__(
        self,
        handle: JobHandle,
        journal: Journal,
        threads: Executor,
        processes: Callable[[], Executor],
        on_change: Callable[[JobHandle], None],
    ) -> None:
        self.job_id = handle.id
        self.journal = journal
        self.cancel_event = handle.cancel_event
        self._handle = handle
        self._loop = handle._loop
        self._threads = threads
        self._processes = processes
        self._on_change = on_change

    def progress(self, fraction: float | None, text: str) -> None:
        """Report progress (fraction clamped to [0, 1], ``None`` = unknown); callable from any thread."""
        report = model.Progress(_clamp(fraction), text)
        self._in_loop(self._set_progress, report)

    def log(self, line: str) -> None:
        """Add a line to the job's log; callable from any thread."""
        self._in_loop(self._add_log, line)

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the operator cancelled; call between steps."""
        if self.cancel_event.is_set():
            raise Cancelled(f"{self._handle.title} was cancelled")

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking I/O (pyVmomi, disk, SQLite) in a worker thread; the loop stays responsive.

        If the job is cancelled meanwhile, this still waits for the thread to finish before raising:
        the scheduler must not hand the job's resources (a datastore, a VM) to the next job while
        this one's thread is still touching them. The thread sees ``cancel_event`` and should stop
        at its next step.
        """
        future = self._loop.run_in_executor(self._threads, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            while not future.done():
                try:
                    await asyncio.wait([future])
                except asyncio.CancelledError:
                    continue
            raise

    async def run_in_process(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU-heavy work (an MFT pass, a big parse) in a worker process.

        A thread would hold the GIL and freeze the Qt window for ~200 ms at a time. ``fn`` and its
        arguments must be picklable (a module-level function). On cancel the result is dropped
        without waiting: such work touches no vSphere object, and waiting minutes for a parse to end
        would make Cancel feel broken.
        """
        future = self._loop.run_in_executor(self._processes(), fn, *args)
        return await future

    def _in_loop(self, fn: Callable[[Any], None], arg: Any) -> None:
        if _in_loop_thread(self._loop):
            fn(arg)
        else:
            self._loop.call_soon_threadsafe(fn, arg)

    def _set_progress(self, report: model.Progress) -> None:
        if self._handle.is_finished:
            return
        self._handle.progress = report
        self._on_change(self._handle)

    def _add_log(self, line: str) -> None:
        self._handle.log_lines.append(line)
        self._on_change(self._handle)
