"""Running coroutines from Qt slots.

With qasync the asyncio loop is the Qt loop: a slot starts a task and returns at once, the task awaits, the
window keeps painting. Two rules live here so that widgets need not repeat them:

* a started task is referenced until it ends (asyncio keeps only weak references), and an exception that
  nobody awaited is logged, never lost;
* a dialog is awaited with ``open()`` and a future, never with ``exec()``: a nested Qt event loop inside a
  running task would try to step other tasks while this one is still in its step.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtWidgets import QDialog

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskSet:
    """Owns the tasks a widget starts; ``cancel_all`` when the widget closes."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("Task %s failed", task.get_name(), exc_info=exc)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def __len__(self) -> int:
        return len(self._tasks)


async def call_io(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a service method that may be a coroutine function or blocking I/O (then in an executor)."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(None, lambda: fn(*args))
    if inspect.isawaitable(result):
        return await result
    return result


async def ask(dialog: QDialog) -> int:
    """Show ``dialog`` window-modally and wait for its result without a nested event loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()

    def finished(result: int) -> None:
        if not future.done():
            future.set_result(result)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await future
    except asyncio.CancelledError:
        with contextlib.suppress(RuntimeError):  # the C++ dialog may already be gone
            dialog.reject()
        raise
    finally:
        with contextlib.suppress(RuntimeError, TypeError):
            dialog.finished.disconnect(finished)
