"""The narrow ports a use case receives (STYLE.md): each says the one thing it needs from the app.

Only the composition root (``app/bootstrap.py``) knows the whole bag of services; a use case names the
ports it uses, so a test builds it from exactly those and a reader sees what it can touch.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from vmrestore.model import Action

if TYPE_CHECKING:
    from vmrestore.engine.jobcontext import Job, JobHandle
    from vmrestore.vsphere.session import VsphereSession


class RoleGate(Protocol):
    """Refuses an action the operator's vmrestore role does not allow (``RoleDenied``, exit 3)."""

    def require(self, action: Action) -> None: ...


class AuditTrail(Protocol):
    """One audit entry per action, ``ok`` or the error's code; the caller may add outcome details."""

    def audited(self, action: Action, target: str, **detail: Any) -> AbstractContextManager[dict[str, Any]]: ...


class JobQueue(Protocol):
    """The engine's scheduler: runs a job when its resource keys are free."""

    def submit(self, job: Job) -> JobHandle: ...


class SessionSource(Protocol):
    """The logged-in vCenter session (``NotConnected`` when there is none)."""

    @property
    def session(self) -> VsphereSession: ...
