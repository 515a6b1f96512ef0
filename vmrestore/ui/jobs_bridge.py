"""Adapting an engine ``JobHandle`` to Qt signals (superqt style).

The engine calls a handle's listeners in the loop thread on every state or progress change, possibly
hundreds of times a second. A ``JobBridge`` turns that into:

* ``started()`` once, when the job first runs;
* ``progress(fraction, text)`` at most ~10 times a second (the last report is never dropped: it is sent
  when the quiet period ends, and before the job's final signal); ``fraction`` is ``-1.0`` when unknown;
* exactly one of ``finished(result)``, ``failed(error)``, ``cancelled()``: errors travel as values, they are
  never raised into a slot;
* ``updated()``, throttled like ``progress``, for anything else a view may show (log lines).

After the final signal the bridge unsubscribes from the handle.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from vmrestore import errors, model

from .ports import JobHandleLike, Unsubscribe

TERMINAL = frozenset({model.JobState.DONE, model.JobState.FAILED, model.JobState.CANCELLED})
UNKNOWN_FRACTION = -1.0


class JobBridge(QObject):
    started = Signal()
    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    updated = Signal()

    def __init__(self, handle: JobHandleLike, parent: QObject | None = None, *, interval_ms: int = 100) -> None:
        super().__init__(parent)
        self._handle = handle
        self._interval = interval_ms / 1000.0
        self._started = False
        self._ended = False
        self._last_flush = 0.0
        self._sent_progress: tuple[float, str] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        self._unsubscribe: Unsubscribe | None = handle.add_listener(self._on_change)
        # Listeners see changes from now on: catch up with what already happened (without emitting from
        # inside the constructor, where nobody is connected yet).
        QTimer.singleShot(0, self, lambda: self._on_change(handle))

    @property
    def handle(self) -> JobHandleLike:
        return self._handle

    @property
    def ended(self) -> bool:
        return self._ended

    def _on_change(self, _handle: Any = None) -> None:
        if self._ended:
            return
        state = self._handle.state
        if state in TERMINAL:
            self._end(state)
            return
        if state is model.JobState.RUNNING and not self._started:
            self._started = True
            self.started.emit()
            self._flush()
            return
        wait = self._interval - (time.monotonic() - self._last_flush)
        if wait <= 0:
            self._flush()
        elif not self._timer.isActive():
            self._timer.start(max(1, int(wait * 1000)))

    def _flush(self) -> None:
        if self._ended:
            return
        self._timer.stop()
        self._last_flush = time.monotonic()
        if self._started or self._handle.state is model.JobState.RUNNING:
            current = _progress_tuple(self._handle.progress)
            if current != self._sent_progress:
                self._sent_progress = current
                self.progress.emit(*current)
        self.updated.emit()

    def _end(self, state: model.JobState) -> None:
        if state is not model.JobState.CANCELLED and not self._started:
            self._started = True
            self.started.emit()
        self._flush()
        self._ended = True
        self._timer.stop()
        self.detach()
        if state is model.JobState.DONE:
            self.finished.emit(self._handle.result)
        elif state is model.JobState.FAILED:
            error = self._handle.error
            self.failed.emit(error if error is not None else errors.VmrestoreError("The job failed"))
        else:
            self.cancelled.emit()

    def detach(self) -> None:
        """Stop listening to the handle (idempotent)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()


def _progress_tuple(progress: model.Progress | None) -> tuple[float, str]:
    if progress is None:
        return (UNKNOWN_FRACTION, "")
    fraction = UNKNOWN_FRACTION if progress.fraction is None else float(progress.fraction)
    return (fraction, progress.text or "")
