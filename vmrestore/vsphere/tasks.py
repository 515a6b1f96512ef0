"""Wait for many vSphere tasks at once with one property filter.

A dedicated PropertyCollector holds one filter on ``info.state/progress/error/result`` of every task;
``WaitForUpdatesEx`` blocks on the server until something changes (at most ``POLL_SECONDS``, so a
cancel is noticed), carrying the version so no change is missed or seen twice. The collector and filter
are destroyed in ``finally``: they live on the server until then. ``pyVim.task.WaitForTask`` is not
used: it waits on one task, re-reads properties by attribute, and fails on some simulator tasks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pyVmomi import vim, vmodl

from vmrestore.errors import Cancelled, TaskFailed, Transient, VmrestoreError
from vmrestore.vsphere.faults import translate
from vmrestore.vsphere.session import VsphereSession

log = logging.getLogger(__name__)

# pyVmomi's stubs leave data-object constructors untyped: they are Any at our boundary.
_PC: Any = vmodl.query.PropertyCollector
_PATHS = ["info.state", "info.progress", "info.error", "info.result", "info.descriptionId"]
_DONE = {"success", "error"}

# Longest single server-side wait: bounds how long a cancel or the timeout goes unnoticed.
POLL_SECONDS = 1

ProgressCallback = Callable[[str, int | None, str], None]


def wait_for_tasks(
    session: VsphereSession,
    tasks: Sequence[Any],
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> list[Any]:
    """Block until every task ends; return their ``info.result`` values in the order given.

    ``on_progress(task_moid, percent_or_None, state)`` is called for every change seen. When all tasks
    have ended and one failed, the first failure (in the order given) is raised as its translated fault
    (``PermissionDenied``, ``NotFound``, ... or ``TaskFailed``) with the fault as ``__cause__``.
    ``cancel`` set → ``CancelTask`` is asked for the unfinished tasks and ``Cancelled`` is raised;
    ``timeout`` seconds elapsed → ``Transient``.
    """
    if not tasks:
        return []
    deadline = None if timeout is None else time.monotonic() + timeout
    # Waiting is idempotent: after a re-login the whole wait starts again on a new collector.
    infos = session.call(_wait, session, list(tasks), on_progress, cancel, deadline)
    for task in tasks:
        info = infos[task._moId]
        if info.get("info.state") == "error":
            error = info.get("info.error")
            if error is None:
                raise TaskFailed(f"vCenter task {task._moId} failed without saying why")
            raise translate(error, in_task=True, server=session.server) from error
    return [infos[task._moId].get("info.result") for task in tasks]


def _wait(
    session: VsphereSession,
    tasks: list[Any],
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
    deadline: float | None,
) -> dict[str, dict[str, Any]]:
    infos: dict[str, dict[str, Any]] = {task._moId: {} for task in tasks}
    collector = session.content.propertyCollector.CreatePropertyCollector()
    prop_filter = None
    try:
        spec = _PC.FilterSpec(
            objectSet=[_PC.ObjectSpec(obj=task, skip=False) for task in tasks],
            propSet=[_PC.PropertySpec(type=vim.Task, all=False, pathSet=_PATHS)],
        )
        prop_filter = collector.CreateFilter(spec, True)
        version = ""
        while any(info.get("info.state") not in _DONE for info in infos.values()):
            if cancel is not None and cancel.is_set():
                _cancel_pending(tasks, infos)
                raise Cancelled("Cancelled while waiting for vCenter tasks")
            wait = POLL_SECONDS
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Transient(f"vCenter tasks did not finish in time ({len(tasks)} task(s))")
                wait = max(0, min(wait, int(remaining + 0.999)))
            update = collector.WaitForUpdatesEx(version, _PC.WaitOptions(maxWaitSeconds=wait))
            if update is None:
                continue
            version = update.version
            for filter_update in update.filterSet or ():
                for change_set in filter_update.objectSet or ():
                    _apply(infos[change_set.obj._moId], change_set.changeSet or ())
                    if on_progress is not None:
                        info = infos[change_set.obj._moId]
                        state = info.get("info.state", "")
                        on_progress(change_set.obj._moId, info.get("info.progress"), state)
        return infos
    finally:
        destroyers = (getattr(prop_filter, "DestroyPropertyFilter", None), collector.DestroyPropertyCollector)
        for destroy in destroyers:
            if destroy is None:
                continue
            try:
                destroy()
            except Exception as exc:  # the session may be gone; the server drops them with it
                log.debug("destroying the task collector failed: %s", type(exc).__name__)


def _apply(info: dict[str, Any], changes: Sequence[Any]) -> None:
    for change in changes:
        if change.op == "remove" or change.op == "indirectRemove":
            info.pop(change.name, None)
        elif change.name == "info":  # a server may send the whole object instead of the paths
            info.update({f"info.{p[5:]}": getattr(change.val, p[5:], None) for p in _PATHS})
        else:
            info[change.name] = change.val


def _cancel_pending(tasks: list[Any], infos: dict[str, dict[str, Any]]) -> None:
    for task in tasks:
        if infos[task._moId].get("info.state") in _DONE:
            continue
        try:
            task.CancelTask()
        except VmrestoreError:
            raise
        except Exception as exc:  # not cancelable, already done, or the server lacks CancelTask
            log.info("CancelTask %s refused: %s", task._moId, type(exc).__name__)
