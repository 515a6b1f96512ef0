"""The Jobs area: a live table of jobs, Cancel for the selected one, and an error/log details pane."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QSystemTrayIcon,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vmrestore import model

from .errors import describe
from .formatting import duration, local_time
from .jobs_model import STATE_LABELS, JobsModel, JobsSortProxy, progress_text
from .ports import JobHandleLike

CANCELLABLE = frozenset({model.JobState.QUEUED, model.JobState.RUNNING})


class ProgressDelegate(QStyledItemDelegate):
    """The progress text (percent first, elided) with a thin bar under it for running jobs.

    A full-height progress bar cannot hold "45 % — Reading volume 1 of 2" in a table row; text plus a
    4-pixel bar stays readable at every width, in light and dark palettes.
    """

    BAR_HEIGHT = 4

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().paint(painter, option, index)
        handle = index.data(JobsModel.RowRole)
        fraction, _text = index.data(JobsModel.ProgressRole) or (None, "")
        if handle is None or handle.state is not model.JobState.RUNNING or fraction is None:
            return
        rect: QRect = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        track = QRect(rect.left() + 4, rect.bottom() - self.BAR_HEIGHT - 2, rect.width() - 8, self.BAR_HEIGHT)
        done = QRect(track)
        done.setWidth(round(track.width() * max(0.0, min(1.0, float(fraction)))))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.mid())
        painter.drawRoundedRect(track, 2, 2)
        painter.setBrush(palette.highlightedText() if selected else palette.highlight())
        if done.width() > 0:
            painter.drawRoundedRect(done, 2, 2)
        painter.restore()


class JobsView(QWidget):
    """Table + Cancel + details. Takes the model; knows nothing about the scheduler."""

    def __init__(self, jobs: JobsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = jobs
        self._proxy = JobsSortProxy(self)
        self._proxy.setSourceModel(jobs)

        title = QLabel("<h2>Jobs</h2>", self)
        hint = QLabel("Everything vmrestore runs in the background. Select a job to see its log or cancel it.", self)
        hint.setWordWrap(True)

        self.table = QTableView(self)
        self.table.setObjectName("jobsTable")
        self.table.setAccessibleName("Jobs")
        self.table.setAccessibleDescription("Jobs with their state, progress, start and end time and error")
        self.table.setModel(self._proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(JobsModel.COL_STARTED, Qt.SortOrder.DescendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.setItemDelegateForColumn(JobsModel.COL_PROGRESS, ProgressDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(JobsModel.COL_JOB, QHeaderView.ResizeMode.Stretch)
        # The job's title is what the operator reads: at 1024 px it gets the room; the error (often empty) is
        # a fixed column elided at the end, its full text in the log pane below and the tooltip.
        for column, width in (
            (JobsModel.COL_STATE, 80),
            (JobsModel.COL_PROGRESS, 120),
            (JobsModel.COL_STARTED, 140),
            (JobsModel.COL_FINISHED, 140),
            (JobsModel.COL_ERROR, 160),
        ):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(column, width)

        self.cancel_button = QPushButton("&Cancel job", self)
        self.cancel_button.setObjectName("cancelJob")
        self.cancel_button.setAccessibleName("Cancel the selected job")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_selected)

        self.details = QPlainTextEdit(self)
        self.details.setObjectName("jobDetails")
        self.details.setReadOnly(True)
        self.details.setAccessibleName("Job details and log")
        self.details.setPlaceholderText("Select a job to see its error and log lines.")
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)

        self.setTabOrder(self.table, self.details)
        self.setTabOrder(self.details, self.cancel_button)

        self.table.selectionModel().selectionChanged.connect(self._refresh_selection)
        jobs.dataChanged.connect(self._on_data_changed)
        jobs.rowsInserted.connect(self._select_first_if_none)

    # -- selection ---------------------------------------------------------------------------------
    def selected_handle(self) -> JobHandleLike | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(JobsModel.RowRole) if rows else None

    def select_job(self, job_id: str) -> None:
        row = self._model.row_of(job_id)
        if row is None:
            return
        proxy_index = self._proxy.mapFromSource(self._model.index(row, 0))
        self.table.selectRow(proxy_index.row())

    def cancel_selected(self) -> None:
        handle = self.selected_handle()
        if handle is not None and handle.state in CANCELLABLE:
            handle.cancel()
            self.cancel_button.setEnabled(False)  # until the job reports its new state

    def _select_first_if_none(self, *_args: Any) -> None:
        if not self.table.selectionModel().hasSelection() and self._proxy.rowCount() > 0:
            self.table.selectRow(0)

    def _on_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, *_roles: Any) -> None:
        handle = self.selected_handle()
        if handle is None:
            return
        row = self._model.row_of(handle.id)
        if row is not None and top_left.row() <= row <= bottom_right.row():
            self._refresh_selection()

    def _refresh_selection(self, *_args: Any) -> None:
        handle = self.selected_handle()
        self.cancel_button.setEnabled(handle is not None and handle.state in CANCELLABLE)
        text = details_text(handle) if handle is not None else ""
        if self.details.toPlainText() != text:
            self.details.setPlainText(text)
            self.details.verticalScrollBar().setValue(self.details.verticalScrollBar().maximum())


def details_text(handle: JobHandleLike) -> str:
    lines = [f"{handle.title} — {STATE_LABELS.get(handle.state, str(handle.state))}"]
    times = []
    if handle.started is not None:
        times.append(f"started {local_time(handle.started)}")
    if handle.finished is not None:
        times.append(f"finished {local_time(handle.finished)}")
        if handle.started is not None:
            times.append(f"took {duration((handle.finished - handle.started).total_seconds())}")
    if times:
        lines.append(", ".join(times))
    if handle.state in CANCELLABLE and handle.progress is not None:
        lines.append(f"Progress: {progress_text(handle)}")
    if handle.error is not None:
        described = describe(handle.error)
        lines += ["", f"{described.title}: {described.text}"]
    if handle.log_lines:
        lines += ["", "Log:", *handle.log_lines]
    return "\n".join(lines)


class LongJobNotifier(QObject):
    """A tray balloon when a job that ran longer than ``threshold_s`` ends (the operator may be elsewhere)."""

    notified = Signal(str, str)  # title, message

    def __init__(self, tray: QSystemTrayIcon | None, threshold_s: float = 10.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tray = tray
        self._threshold = threshold_s

    def on_job_ended(self, handle: JobHandleLike) -> None:
        if handle.started is None:
            return
        end = handle.finished or datetime.now(UTC)
        seconds = (end - handle.started).total_seconds()
        if seconds < self._threshold:
            return
        if handle.state is model.JobState.DONE:
            title, icon = f"Done: {handle.title}", QSystemTrayIcon.MessageIcon.Information
            message = f"Finished after {duration(seconds)}."
        elif handle.state is model.JobState.FAILED:
            title, icon = f"Failed: {handle.title}", QSystemTrayIcon.MessageIcon.Critical
            message = describe(handle.error).text if handle.error is not None else "The job failed."
        else:
            title, icon = f"Cancelled: {handle.title}", QSystemTrayIcon.MessageIcon.Warning
            message = f"Cancelled after {duration(seconds)}."
        if self._tray is not None and self._tray.isVisible():
            self._tray.showMessage(title, message, icon, 10_000)
        self.notified.emit(title, message)
