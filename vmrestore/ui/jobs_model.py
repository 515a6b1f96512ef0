"""The jobs table: one row per job the scheduler knows, live.

Fed by ``scheduler.add_listener`` (new jobs) and, per row, a ``JobBridge`` on the job's handle (throttled
progress, state changes). Rows are only appended, so a row number stays valid for the model's lifetime.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from vmrestore import model
from vmrestore.ui.sorting import SortProxy

from .errors import describe
from .formatting import local_time
from .jobs_bridge import TERMINAL, JobBridge
from .ports import JobHandleLike, SchedulerLike, Unsubscribe

Index = QModelIndex | QPersistentModelIndex

STATE_LABELS = {
    model.JobState.QUEUED: "Queued",
    model.JobState.RUNNING: "Running",
    model.JobState.DONE: "Done",
    model.JobState.FAILED: "Failed",
    model.JobState.CANCELLED: "Cancelled",
}
# Sort order of the State column: what needs attention first.
STATE_RANK = {
    model.JobState.RUNNING: 0,
    model.JobState.QUEUED: 1,
    model.JobState.FAILED: 2,
    model.JobState.CANCELLED: 3,
    model.JobState.DONE: 4,
}


class JobsModel(QAbstractTableModel):
    COL_JOB, COL_STATE, COL_PROGRESS, COL_STARTED, COL_FINISHED, COL_ERROR = range(6)
    HEADERS = ("Job", "State", "Progress", "Started", "Finished", "Error")

    SortRole = Qt.ItemDataRole.UserRole + 1  # native values: str, int rank, float, datetime | None
    RowRole = Qt.ItemDataRole.UserRole + 2  # the JobHandle
    ProgressRole = Qt.ItemDataRole.UserRole + 3  # (fraction or None, text) for the progress delegate

    jobEnded = Signal(object)  # the handle, once, when it reaches done/failed/cancelled

    def __init__(self, scheduler: SchedulerLike, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[JobHandleLike] = []
        self._row_of: dict[str, int] = {}
        self._bridges: dict[str, JobBridge] = {}
        for handle in scheduler.jobs():
            self._append(handle)
        self._unsubscribe: Unsubscribe | None = scheduler.add_listener(self._on_scheduler)

    # -- feeding -----------------------------------------------------------------------------------
    def _on_scheduler(self, handle: JobHandleLike) -> None:
        if handle.id in self._row_of:
            self._changed(handle.id)
        else:
            self._append(handle)

    def _append(self, handle: JobHandleLike) -> None:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(handle)
        self._row_of[handle.id] = row
        self.endInsertRows()
        bridge = JobBridge(handle, self)
        job_id = handle.id
        bridge.updated.connect(lambda: self._changed(job_id))
        bridge.started.connect(lambda: self._changed(job_id))
        for signal in (bridge.finished, bridge.failed):
            signal.connect(lambda _value, job_id=job_id: self._ended(job_id))
        bridge.cancelled.connect(lambda: self._ended(job_id))
        self._bridges[job_id] = bridge

    def _changed(self, job_id: str) -> None:
        row = self._row_of.get(job_id)
        if row is None:
            return
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.HEADERS) - 1))

    def _ended(self, job_id: str) -> None:
        self._changed(job_id)
        self.jobEnded.emit(self._rows[self._row_of[job_id]])

    def close(self) -> None:
        """Stop listening to the scheduler and the handles (the window is closing)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        for bridge in self._bridges.values():
            bridge.detach()

    # -- access ------------------------------------------------------------------------------------
    def handle(self, row: int) -> JobHandleLike:
        return self._rows[row]

    def row_of(self, job_id: str) -> int | None:
        return self._row_of.get(job_id)

    # -- Qt model API ------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        handle = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(handle, column)
        if role == self.SortRole:
            return self._sort_value(handle, column)
        if role == self.RowRole:
            return handle
        if role == self.ProgressRole:
            return (handle.progress.fraction, handle.progress.text) if handle.progress else (None, "")
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.COL_ERROR and handle.error is not None:
                return str(handle.error)
            if column == self.COL_PROGRESS and handle.progress:
                return handle.progress.text or None
            if column == self.COL_JOB:
                return f"{handle.title} ({handle.kind}, id {handle.id})"
            return None
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self._display(handle, column)
        return None

    def _display(self, handle: JobHandleLike, column: int) -> str:
        if column == self.COL_JOB:
            return handle.title
        if column == self.COL_STATE:
            return STATE_LABELS.get(handle.state, str(handle.state))
        if column == self.COL_PROGRESS:
            return progress_text(handle)
        if column == self.COL_STARTED:
            return local_time(handle.started)
        if column == self.COL_FINISHED:
            return local_time(handle.finished)
        if column == self.COL_ERROR:
            if handle.error is None or handle.state is not model.JobState.FAILED:
                return ""
            return describe(handle.error).text.splitlines()[0]
        return ""

    def _sort_value(self, handle: JobHandleLike, column: int) -> Any:
        if column == self.COL_JOB:
            return handle.title.casefold()
        if column == self.COL_STATE:
            return STATE_RANK.get(handle.state, 9)
        if column == self.COL_PROGRESS:
            fraction = handle.progress.fraction if handle.progress else None
            return -1.0 if fraction is None else float(fraction)
        if column == self.COL_STARTED:
            return handle.started
        if column == self.COL_FINISHED:
            return handle.finished
        if column == self.COL_ERROR:
            return str(handle.error) if handle.error is not None else ""
        return None


def progress_text(handle: JobHandleLike) -> str:
    fraction = handle.progress.fraction if handle.progress else None
    if handle.state is model.JobState.DONE:
        return "100 %"
    if handle.state in TERMINAL:
        return f"stopped at {round(fraction * 100)} %" if fraction is not None else ""
    if fraction is None:
        return handle.progress.text if handle.progress else ""
    percent = f"{round(fraction * 100)} %"
    return f"{percent} — {handle.progress.text}" if handle.progress.text else percent


class JobsSortProxy(SortProxy):
    """Sorts by ``JobsModel.SortRole``; ``None`` (not started / not finished yet) sorts after any time."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(JobsModel.SortRole, parent)
