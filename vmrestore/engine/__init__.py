"""vmrestore.engine: Qt-free asyncio jobs, the write-ahead journal, the sweep, the audit log and the
role policy.

Nothing here imports Qt, pyVmomi or dissect (import-linter enforces it): the engine runs headless for
``vmrestore sweep`` and the CLI, and vSphere-specific undo steps are plugged in as handlers by the app.
"""

from vmrestore.engine.audit import AuditEntry, AuditLog, AuditVerification
from vmrestore.engine.jobcontext import Job, JobContext, JobHandle, JobRecord
from vmrestore.engine.jobs import Scheduler
from vmrestore.engine.journal import Journal, JournalEntry
from vmrestore.engine.owner import ProcessOwner
from vmrestore.engine.policy import allowed, require
from vmrestore.engine.state import StateStore
from vmrestore.engine.sweep import Sweeper, SweepResult, UndoHandler

__all__ = [
    "AuditEntry", "AuditLog", "AuditVerification", "Job", "JobContext", "JobHandle", "JobRecord",
    "Journal", "JournalEntry", "ProcessOwner", "Scheduler", "StateStore", "SweepResult", "Sweeper",
    "UndoHandler", "allowed", "require",
]
