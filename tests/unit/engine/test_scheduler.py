"""The job scheduler: progress, cancel, per-resource serialisation, errors as values, history."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vmrestore import model
from vmrestore.engine import (
    JobContext,
    JobHandle,
    Journal,
    JournalEntry,
    ProcessOwner,
    Scheduler,
    StateStore,
    Sweeper,
)
from vmrestore.errors import NotFound, VmrestoreError

pytestmark = pytest.mark.asyncio


@dataclass
class FnJob:
    """A job whose body is a test function."""

    body: Callable[[JobContext], Awaitable[Any]]
    resource_keys: tuple[str, ...] = ()
    kind: str = "test"
    title: str = "Test job"

    async def run(self, ctx: JobContext) -> Any:
        return await self.body(ctx)


@dataclass
class Tracker:
    """Records when jobs hold each key, to prove overlap or its absence."""

    active: dict[str, int] = field(default_factory=dict)
    max_active: dict[str, int] = field(default_factory=dict)
    max_total: int = 0
    total: int = 0

    def job(self, key: str, group: str | None = None, delay: float = 0.05) -> FnJob:
        name = group or key

        async def body(ctx: JobContext) -> None:
            self.active[name] = self.active.get(name, 0) + 1
            self.total += 1
            self.max_active[name] = max(self.max_active.get(name, 0), self.active[name])
            self.max_total = max(self.max_total, self.total)
            await asyncio.sleep(delay)
            self.active[name] -= 1
            self.total -= 1

        return FnJob(body, (key,))


@pytest.fixture
def scheduler_factory(state: StateStore, journal: Journal) -> Callable[..., Scheduler]:
    def make(limits: dict[str, int] | None = None, **kw: Any) -> Scheduler:
        return Scheduler(state, journal, limits, **kw)

    return make


async def test_progress_reaches_listeners_in_order_from_any_thread(
    scheduler_factory: Callable[..., Scheduler],
) -> None:
    sched = scheduler_factory()
    loop_thread = threading.get_ident()
    seen: list[tuple[str, float | None, str]] = []
    threads: set[int] = set()

    def from_thread(ctx: JobContext) -> None:
        ctx.progress(0.75, "in a worker thread")
        ctx.log("thread line")

    async def body(ctx: JobContext) -> str:
        ctx.progress(0.1, "a")
        ctx.progress(2.0, "clamped high")
        ctx.progress(-3, "clamped low")
        ctx.progress(None, "unknown")
        await ctx.run_blocking(from_thread, ctx)
        await asyncio.sleep(0.01)  # let the thread's reports arrive
        return "result"

    submitted: list[JobHandle] = []
    sched.add_listener(submitted.append)
    handle = sched.submit(FnJob(body))

    def listener(h: JobHandle) -> None:
        threads.add(threading.get_ident())
        seen.append((str(h.state), h.progress.fraction, h.progress.text))

    handle.add_listener(listener)
    assert await handle.wait() == "result"
    assert submitted == [handle]
    progress = [(f, t) for s, f, t in seen if s == "running"]
    assert progress == [
        (None, "Started"), (0.1, "a"), (1.0, "clamped high"), (0.0, "clamped low"), (None, "unknown"),
        (0.75, "in a worker thread"), (0.75, "in a worker thread"),  # the log line is a change too
    ]
    assert seen[-1] == ("done", 1.0, "in a worker thread")
    assert handle.log_lines == ["thread line"]
    assert threads == {loop_thread}
    assert handle.started is not None and handle.finished is not None and handle.finished >= handle.started
    await sched.shutdown()


async def test_cancel_running_job_stops_the_thread_first(scheduler_factory: Callable[..., Scheduler]) -> None:
    sched = scheduler_factory()
    started = asyncio.Event()
    events: list[str] = []

    def blocking(ctx: JobContext) -> None:
        loop.call_soon_threadsafe(started.set)
        if ctx.cancel_event.wait(10):
            time.sleep(0.1)  # finishing the current step
            events.append("thread saw cancel")
            ctx.check_cancelled()
        events.append("thread ran to the end")

    async def body(ctx: JobContext) -> None:
        await ctx.run_blocking(blocking, ctx)
        events.append("after run_blocking")

    loop = asyncio.get_running_loop()
    handle = sched.submit(FnJob(body, ("vm:vm-1",)))
    follower_ran = asyncio.Event()

    async def follower(ctx: JobContext) -> None:
        events.append("next job on vm-1 started")
        follower_ran.set()

    nxt = sched.submit(FnJob(follower, ("vm:vm-1",)))
    states: list[str] = []
    handle.add_listener(lambda h: states.append(str(h.state)))
    await asyncio.wait_for(started.wait(), 5)
    handle.cancel()
    assert await handle.wait() is None
    assert handle.state is model.JobState.CANCELLED and states[-1] == "cancelled"
    assert handle.cancel_event.is_set()
    assert handle.error is not None and handle.error.code == "cancelled"
    await nxt.wait()
    # The thread finished its step before the resource went to the next job.
    assert events == ["thread saw cancel", "next job on vm-1 started"]
    await sched.shutdown()


async def test_cancel_queued_job_never_runs(scheduler_factory: Callable[..., Scheduler]) -> None:
    sched = scheduler_factory()
    release = asyncio.Event()
    ran: list[str] = []

    async def first(ctx: JobContext) -> None:
        await release.wait()

    async def second(ctx: JobContext) -> None:
        ran.append("second")

    h1 = sched.submit(FnJob(first, ("datastore:ds1",)))
    h2 = sched.submit(FnJob(second, ("datastore:ds1",)))
    await asyncio.sleep(0.01)
    assert (h1.state, h2.state) == (model.JobState.RUNNING, model.JobState.QUEUED)
    h2.cancel()
    await h2.wait()
    assert h2.state is model.JobState.CANCELLED and h2.started is None
    release.set()
    await h1.wait()
    assert h1.state is model.JobState.DONE and ran == []
    await sched.shutdown()


async def test_same_resource_serialised_different_resources_overlap(
    scheduler_factory: Callable[..., Scheduler],
) -> None:
    sched = scheduler_factory()
    tracker = Tracker()
    handles = [
        sched.submit(tracker.job("datastore:ds1")),
        sched.submit(tracker.job("datastore:ds1")),
        sched.submit(tracker.job("datastore:ds1")),
        sched.submit(tracker.job("datastore:ds2")),
    ]
    await asyncio.gather(*(h.wait() for h in handles))
    assert tracker.max_active == {"datastore:ds1": 1, "datastore:ds2": 1}
    assert tracker.max_total == 2  # ds2 ran alongside ds1
    assert [h.state for h in handles] == [model.JobState.DONE] * 4
    await sched.shutdown()


async def test_prefix_and_exact_key_limits(scheduler_factory: Callable[..., Scheduler]) -> None:
    one = scheduler_factory({"datastore:*": 1})
    tracker = Tracker()
    handles = [one.submit(tracker.job(f"datastore:ds{i}", group="all")) for i in range(3)]
    handles.append(one.submit(tracker.job("vm:vm-1", group="vm")))
    await asyncio.gather(*(h.wait() for h in handles))
    assert tracker.max_active == {"all": 1, "vm": 1} and tracker.max_total == 2
    await one.shutdown()

    two = scheduler_factory({"datastore:*": 2, "point": 2, "point:p1": 3})
    tracker = Tracker()
    handles = [two.submit(tracker.job(f"datastore:ds{i}", group="all")) for i in range(5)]
    handles += [two.submit(tracker.job("point:p1", group="p1")) for _ in range(4)]
    handles += [two.submit(tracker.job("point:p2", group="p2")) for _ in range(4)]
    handles += [two.submit(tracker.job("vm:x", group="vm")) for _ in range(2)]
    await asyncio.gather(*(h.wait() for h in handles))
    # total cap over datastores; exact key beats prefix; prefix capacity per key; default 1
    assert tracker.max_active == {"all": 2, "p1": 3, "p2": 2, "vm": 1}
    await two.shutdown()


async def test_failure_is_a_value(scheduler_factory: Callable[..., Scheduler]) -> None:
    sched = scheduler_factory()

    async def crash(ctx: JobContext) -> None:
        raise KeyError("boom")

    async def not_found(ctx: JobContext) -> None:
        raise NotFound("restore point p9 does not exist")

    h1 = sched.submit(FnJob(crash, title="Index repository"))
    h2 = sched.submit(FnJob(not_found))
    assert await h1.wait() is None and await h2.wait() is None
    assert h1.state is model.JobState.FAILED
    assert type(h1.error) is VmrestoreError and isinstance(h1.error.__cause__, KeyError)
    assert "Index repository" in str(h1.error)
    assert isinstance(h2.error, NotFound) and h2.state is model.JobState.FAILED
    await sched.shutdown()


async def test_history_is_readable_from_another_store(
    home: Path, scheduler_factory: Callable[..., Scheduler], state: StateStore
) -> None:
    sched = scheduler_factory()

    async def ok(ctx: JobContext) -> int:
        ctx.progress(0.5, "half")
        return 1

    async def bad(ctx: JobContext) -> None:
        raise NotFound("gone")

    h_ok = sched.submit(FnJob(ok, kind="catalog.index", title="Index"))
    h_bad = sched.submit(FnJob(bad, kind="file.extract", title="Extract"))
    await h_ok.wait()
    await h_bad.wait()
    # A record left "running" by a process that died: reported as interrupted.
    state.execute(
        "INSERT INTO jobs (id, kind, title, state, fraction, text, submitted, owner)"
        " VALUES ('old', 'mount', 'Mount', 'running', 0.3, 'x', '2000-01-01T00:00:00+00:00', 'gone-1-abc')"
    )
    await sched.shutdown()

    other_state = StateStore(home / "state.sqlite")
    other_owner = ProcessOwner(home)
    try:
        records = Scheduler(other_state, Journal(other_state, other_owner)).history()
        by_id = {r.id: r for r in records}
        assert [r.id for r in records] == [h_bad.id, h_ok.id, "old"]  # newest first
        assert (by_id[h_ok.id].kind, by_id[h_ok.id].state, by_id[h_ok.id].progress.fraction) == (
            "catalog.index", model.JobState.DONE, 1.0)
        assert by_id[h_bad.id].state is model.JobState.FAILED
        bad_error = by_id[h_bad.id].error
        assert bad_error is not None and bad_error["code"] == "not_found"
        assert by_id[h_ok.id].started is not None and by_id[h_ok.id].finished is not None
        assert by_id["old"].state is model.JobState.FAILED
        old_error = by_id["old"].error
        assert old_error is not None and old_error["code"] == "interrupted"
        keys = {"id", "kind", "state", "progress", "started", "finished", "error"}
        assert {f.name for f in dataclasses.fields(by_id[h_ok.id])} >= keys  # what `jobs list` prints
    finally:
        other_owner.close()
        other_state.close()


async def test_journal_step_before_action_and_safety_net(
    scheduler_factory: Callable[..., Scheduler], journal: Journal
) -> None:
    undone: list[tuple[int, dict[str, Any]]] = []
    sweeper = Sweeper(journal, {"vsphere.disk_attached": lambda e: undone.append((e.id, e.undo))})
    sched = scheduler_factory(sweeper=sweeper)
    seen_by_action: list[JournalEntry] = []

    def hot_add(entry_id: int) -> None:
        seen_by_action.extend(e for e in journal.pending() if e.id == entry_id)
        journal.created(entry_id)
        raise TimeoutError("guest did not see the disk")

    async def body(ctx: JobContext) -> None:
        entry_id = await ctx.run_blocking(
            ctx.journal.begin, ctx.job_id, "vsphere.disk_attached", "vm:w10", {}, {"vm": "vm-7"}
        )
        await ctx.run_blocking(hot_add, entry_id)

    handle = sched.submit(FnJob(body, ("vm:vm-7",)))
    await handle.wait()
    assert [e.state for e in seen_by_action] == ["pending"]
    entry_id = seen_by_action[0].id
    assert handle.state is model.JobState.FAILED
    assert undone == [(entry_id, {"vm": "vm-7"})]
    assert journal.get(entry_id).state == "undone"
    assert any("cleaned up vsphere.disk_attached" in line for line in handle.log_lines)
    await sched.shutdown()


async def test_run_in_process_and_shutdown_cancels(scheduler_factory: Callable[..., Scheduler]) -> None:
    sched = scheduler_factory(max_processes=1)

    async def cpu(ctx: JobContext) -> int:
        return await ctx.run_in_process(pow, 3, 4)

    assert await sched.submit(FnJob(cpu)).wait() == 81

    async def forever(ctx: JobContext) -> None:
        await asyncio.sleep(60)

    running = sched.submit(FnJob(forever, ("vm:a",)))
    queued = sched.submit(FnJob(forever, ("vm:a",)))
    await asyncio.sleep(0.01)
    await sched.shutdown()
    assert (running.state, queued.state) == (model.JobState.CANCELLED, model.JobState.CANCELLED)
    with pytest.raises(VmrestoreError, match="shut down"):
        sched.submit(FnJob(forever))
