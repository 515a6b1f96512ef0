"""vmrestore.engine: Qt-free asyncio jobs, the write-ahead journal, the sweep, the audit log and the
role policy.

Nothing here imports Qt, pyVmomi or dissect (import-linter enforces it): the engine runs headless for
``vmrestore sweep`` and the CLI, and vSphere-specific undo steps are plugged in as handlers by the app.

The names below load on first use (PEP 562): importing one submodule (``engine.state`` for a read-only
CLI command) must not load the scheduler's asyncio and multiprocessing (start-up time, issue 13 §6).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vmrestore.engine.audit import AuditEntry, AuditLog, AuditVerification
    from vmrestore.engine.jobcontext import Job, JobContext, JobHandle, JobRecord
    from vmrestore.engine.jobs import Scheduler
    from vmrestore.engine.journal import Journal, JournalEntry
    from vmrestore.engine.owner import ProcessOwner
    from vmrestore.engine.policy import allowed, require
    from vmrestore.engine.state import StateStore
    from vmrestore.engine.sweep import Sweeper, SweepResult, UndoHandler

_WHERE = {
    "AuditEntry": "audit", "AuditLog": "audit", "AuditVerification": "audit",
    "Job": "jobcontext", "JobContext": "jobcontext", "JobHandle": "jobcontext", "JobRecord": "jobcontext",
    "Scheduler": "jobs", "Journal": "journal", "JournalEntry": "journal", "ProcessOwner": "owner",
    "allowed": "policy", "require": "policy", "StateStore": "state",
    "SweepResult": "sweep", "Sweeper": "sweep", "UndoHandler": "sweep",
}

__all__ = [
    "AuditEntry", "AuditLog", "AuditVerification", "Job", "JobContext", "JobHandle", "JobRecord",
    "Journal", "JournalEntry", "ProcessOwner", "Scheduler", "StateStore", "SweepResult", "Sweeper",
    "UndoHandler", "allowed", "require",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
