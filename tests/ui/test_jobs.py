"""Jobs: the signal bridge, the table model (fed by the real scheduler), the view, the tray notifier."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.qtbot import QtBot

from tests.ui.conftest import until
from tests.ui.fakes import FakeHandle, RealEngine, ScriptedJob
from vmrestore import errors, model
from vmrestore.ui.jobs_bridge import JobBridge
from vmrestore.ui.jobs_model import JobsModel, JobsSortProxy
from vmrestore.ui.jobs_view import JobsView, LongJobNotifier

pytestmark = pytest.mark.asyncio


class Recorder:
    def __init__(self, bridge: JobBridge) -> None:
        self.events: list[tuple[str, tuple[object, ...]]] = []
        for name in ("started", "progress", "finished", "failed", "cancelled"):
            getattr(bridge, name).connect(lambda *args, name=name: self.events.append((name, args)))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


# -- bridge ---------------------------------------------------------------------------------------
async def test_bridge_signals_in_order_with_throttled_progress(qtbot: QtBot) -> None:
    handle = FakeHandle()
    bridge = JobBridge(handle, interval_ms=100)
    rec = Recorder(bridge)
    handle.set(state=model.JobState.RUNNING, progress=model.Progress(0.0, "Reading disk"))
    for i in range(1, 51):  # 50 reports in a burst: far above 10 Hz
        handle.set(progress=model.Progress(i / 100, f"step {i}"))
    await asyncio.sleep(0.25)
    progress = [args for name, args in rec.events if name == "progress"]
    assert rec.names()[0] == "started"
    assert 1 <= len(progress) <= 4, progress
    assert progress[-1] == (0.5, "step 50")  # the last report is never dropped

    handle.set(progress=model.Progress(None, "Finishing"))
    handle.set(state=model.JobState.DONE, result={"files": 3}, progress=model.Progress(1.0, "Done"))
    assert rec.events[-2] == ("progress", (1.0, "Done"))
    assert rec.events[-1] == ("finished", ({"files": 3},))
    assert handle.listener_count == 0  # unsubscribed after the end
    handle.set(progress=model.Progress(0.9, "late"))
    assert rec.events[-1] == ("finished", ({"files": 3},))


async def test_bridge_failure_is_a_value(qtbot: QtBot) -> None:
    handle = FakeHandle()
    bridge = JobBridge(handle)
    rec = Recorder(bridge)
    error = errors.PermissionDenied("VirtualMachine.Config.AddExistingDisk", "vm-42")
    handle.set(state=model.JobState.FAILED, error=error)
    assert rec.names() == ["started", "progress", "failed"]
    assert rec.events[-1][1] == (error,)


async def test_bridge_cancel_from_queue_has_no_started(qtbot: QtBot) -> None:
    handle = FakeHandle()
    bridge = JobBridge(handle)
    rec = Recorder(bridge)
    handle.set(state=model.JobState.CANCELLED)
    assert rec.names() == ["cancelled"]


async def test_bridge_catches_up_with_a_finished_job(qtbot: QtBot) -> None:
    handle = FakeHandle()
    handle.state, handle.result = model.JobState.DONE, 7
    bridge = JobBridge(handle)
    rec = Recorder(bridge)
    await until(lambda: "finished" in rec.names(), what="catch-up")
    assert rec.names()[0] == "started" and rec.events[-1] == ("finished", (7,))


async def test_bridge_with_the_real_scheduler(qtbot: QtBot, engine: RealEngine) -> None:
    job = ScriptedJob()
    handle = engine.scheduler.submit(job)
    bridge = JobBridge(handle)
    rec = Recorder(bridge)
    await until(lambda: "started" in rec.names(), what="started")
    job.progress(0.25, "Copying")
    await until(lambda: ("progress", (0.25, "Copying")) in rec.events, what="progress")
    job.finish("ok")
    await until(lambda: "finished" in rec.names(), what="finished")
    assert rec.events[-1] == ("finished", ("ok",))
    await engine.scheduler.shutdown()


# -- model ----------------------------------------------------------------------------------------
async def test_model_rows_follow_the_scheduler(qtbot: QtBot, engine: RealEngine) -> None:
    jobs = JobsModel(engine.scheduler)
    assert jobs.rowCount() == 0
    job = ScriptedJob("Index restore points")
    handle = engine.scheduler.submit(job)
    assert jobs.rowCount() == 1
    assert jobs.index(0, JobsModel.COL_JOB).data() == "Index restore points"
    assert jobs.index(0, 0).data(JobsModel.RowRole) is handle

    await until(lambda: jobs.index(0, JobsModel.COL_STATE).data() == "Running", what="running")
    assert jobs.index(0, JobsModel.COL_STARTED).data()  # a time
    job.progress(0.42, "Reading MFT")
    await until(lambda: jobs.index(0, JobsModel.COL_PROGRESS).data() == "42 % — Reading MFT", what="progress")
    assert jobs.index(0, JobsModel.COL_PROGRESS).data(JobsModel.SortRole) == pytest.approx(0.42)
    assert jobs.index(0, JobsModel.COL_PROGRESS).data(JobsModel.ProgressRole) == (0.42, "Reading MFT")

    ended: list[object] = []
    jobs.jobEnded.connect(ended.append)
    job.finish()
    await until(lambda: ended, what="jobEnded")
    assert ended == [handle]
    assert jobs.index(0, JobsModel.COL_STATE).data() == "Done"
    assert jobs.index(0, JobsModel.COL_PROGRESS).data() == "100 %"
    assert isinstance(jobs.index(0, JobsModel.COL_FINISHED).data(JobsModel.SortRole), datetime)
    jobs.close()
    await engine.scheduler.shutdown()


async def test_model_passes_qtmodeltester(qtbot: QtBot, qtmodeltester, engine: RealEngine) -> None:  # type: ignore[no-untyped-def]
    jobs = JobsModel(engine.scheduler)
    first, second = ScriptedJob("First"), ScriptedJob("Second")
    engine.scheduler.submit(first)
    engine.scheduler.submit(second)
    await until(lambda: jobs.index(1, JobsModel.COL_STATE).data() == "Running", what="running")
    second.progress(0.5, "half")
    first.fail(errors.TaskFailed("The operation is not allowed in the current state."))
    await until(lambda: jobs.index(0, JobsModel.COL_STATE).data() == "Failed", what="failed")
    qtmodeltester.check(jobs)
    proxy = JobsSortProxy()
    proxy.setSourceModel(jobs)
    qtmodeltester.check(proxy)
    jobs.close()
    await engine.scheduler.shutdown()


async def test_proxy_sorts_by_native_values(qtbot: QtBot) -> None:
    class Scheduler:
        def __init__(self, handles: list[FakeHandle]) -> None:
            self.handles = handles

        def jobs(self) -> list[FakeHandle]:
            return self.handles

        def add_listener(self, cb: Callable[[Any], None]) -> Callable[[], None]:
            return lambda: None

    now = datetime.now(UTC)
    a, b, c = FakeHandle("a", "b-job"), FakeHandle("b", "A-job"), FakeHandle("c", "c-job")
    a.started, b.started, c.started = now - timedelta(minutes=1), now, None
    a.progress, b.progress = model.Progress(0.9, ""), model.Progress(0.1, "")
    jobs = JobsModel(Scheduler([a, b, c]))
    proxy = JobsSortProxy()
    proxy.setSourceModel(jobs)

    def order() -> list[str]:
        return [proxy.index(r, 0).data(JobsModel.RowRole).id for r in range(proxy.rowCount())]

    proxy.sort(JobsModel.COL_JOB, Qt.SortOrder.AscendingOrder)
    assert order() == ["b", "a", "c"]  # case-insensitive
    proxy.sort(JobsModel.COL_STARTED, Qt.SortOrder.DescendingOrder)
    assert order() == ["c", "b", "a"]  # not started yet first, then newest
    proxy.sort(JobsModel.COL_PROGRESS, Qt.SortOrder.AscendingOrder)
    assert order() == ["c", "b", "a"]  # unknown (-1) < 0.1 < 0.9


# -- view -----------------------------------------------------------------------------------------
async def test_view_cancel_button_cancels_the_selected_job(qtbot: QtBot, engine: RealEngine) -> None:
    jobs = JobsModel(engine.scheduler)
    view = JobsView(jobs)
    qtbot.addWidget(view)
    view.show()
    job = ScriptedJob("Mount disk of fileserver01")
    handle = engine.scheduler.submit(job)
    await until(lambda: handle.state is model.JobState.RUNNING, what="running")
    view.select_job(handle.id)
    await until(view.cancel_button.isEnabled, what="Cancel enabled")
    view.cancel_button.click()
    await until(lambda: handle.state is model.JobState.CANCELLED, what="cancelled")
    await until(lambda: not view.cancel_button.isEnabled(), what="Cancel disabled")
    row = jobs.row_of(handle.id)
    assert jobs.index(row, JobsModel.COL_STATE).data() == "Cancelled"
    jobs.close()
    await engine.scheduler.shutdown()


async def test_view_cancel_button_calls_cancel_on_the_handle(qtbot: QtBot) -> None:
    handle = FakeHandle()

    class Scheduler:
        def jobs(self) -> list[FakeHandle]:
            return [handle]

        def add_listener(self, cb: Callable[[Any], None]) -> Callable[[], None]:
            return lambda: None

    view = JobsView(JobsModel(Scheduler()))
    qtbot.addWidget(view)
    handle.set(state=model.JobState.RUNNING)
    view.select_job("j1")
    assert view.cancel_button.isEnabled()
    view.cancel_button.click()
    assert handle.cancelled_calls == 1


async def test_view_shows_a_failed_jobs_error_and_log(qtbot: QtBot, engine: RealEngine) -> None:
    jobs = JobsModel(engine.scheduler)
    view = JobsView(jobs)
    qtbot.addWidget(view)
    view.show()
    job = ScriptedJob("Restore C:/Users/alice")
    handle = engine.scheduler.submit(job)
    job.log("hot-added disk scsi0:3")
    job.fail(errors.PermissionDenied("VirtualMachine.Config.AddExistingDisk", "fileserver01"))
    await until(lambda: handle.state is model.JobState.FAILED, what="failed")
    view.select_job(handle.id)
    row = jobs.row_of(handle.id)
    await until(lambda: jobs.index(row, JobsModel.COL_ERROR).data(), what="error column")
    error_cell = jobs.index(row, JobsModel.COL_ERROR).data()
    assert "VirtualMachine.Config.AddExistingDisk" in error_cell
    details = view.details.toPlainText()
    assert "Permission denied by vCenter" in details
    assert "VirtualMachine.Config.AddExistingDisk" in details and "fileserver01" in details
    assert "hot-added disk scsi0:3" in details
    assert not view.cancel_button.isEnabled()
    jobs.close()
    await engine.scheduler.shutdown()


# -- tray notifier --------------------------------------------------------------------------------
async def test_notifier_only_for_jobs_longer_than_ten_seconds(qtbot: QtBot) -> None:
    notifier = LongJobNotifier(None)
    seen: list[tuple[str, str]] = []
    notifier.notified.connect(lambda title, text: seen.append((title, text)))
    now = datetime.now(UTC)
    quick = FakeHandle("q", "Quick")
    quick.state, quick.started, quick.finished = model.JobState.DONE, now - timedelta(seconds=3), now
    notifier.on_job_ended(quick)
    assert seen == []
    slow = FakeHandle("s", "Index repository")
    slow.state, slow.started, slow.finished = model.JobState.DONE, now - timedelta(seconds=75), now
    notifier.on_job_ended(slow)
    assert seen == [("Done: Index repository", "Finished after 1 min 15 s.")]
    failed = FakeHandle("f", "Cleanup")
    failed.state, failed.started, failed.finished = model.JobState.FAILED, now - timedelta(minutes=5), now
    failed.error = errors.InsufficientSpace("datastore1 has 2 GB free, 40 GB needed")
    notifier.on_job_ended(failed)
    assert seen[-1] == ("Failed: Cleanup", "datastore1 has 2 GB free, 40 GB needed")


async def test_model_index_of_invalid_parent_is_empty(qtbot: QtBot) -> None:
    class Scheduler:
        def jobs(self) -> list[FakeHandle]:
            return [FakeHandle()]

        def add_listener(self, cb: Callable[[Any], None]) -> Callable[[], None]:
            return lambda: None

    jobs = JobsModel(Scheduler())
    assert jobs.rowCount(jobs.index(0, 0)) == 0
    assert jobs.rowCount(QModelIndex()) == 1
