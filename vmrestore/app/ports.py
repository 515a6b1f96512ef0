"""The narrow ports a use case receives (STYLE.md): each says the one thing it needs from the app.

Only the composition root (``app/bootstrap.py``) knows the whole bag of services; a use case names the
ports it uses, so a test builds it from exactly those and a reader sees what it can touch. The front ends
see engine jobs only through the names here (``JobRunner``, ``JobView``, ``RunningJob``): they never
import the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from vmrestore.errors import VmrestoreError
from vmrestore.model import Action, JobState, Progress, ServerIdentity

if TYPE_CHECKING:
    from vmrestore.engine.jobcontext import Job, JobHandle
    from vmrestore.vsphere.session import VsphereSession

    #: What a use case submits: the engine's ``Job`` protocol, named here so front ends need not import it.
    JobSpec = Job
    #: A submitted job as the scheduler returns it (front ends that follow every field: the GUI's job views).
    RunningJob = JobHandle


def __getattr__(name: str) -> Any:
    """``JobSpec`` and ``RunningJob`` at run time, loaded on first use: the engine's job module brings asyncio,
    which a read-only CLI command never needs (start-up time, issue 13 §6)."""
    if name in {"JobSpec", "RunningJob"}:
        from vmrestore.engine import jobcontext

        return jobcontext.Job if name == "JobSpec" else jobcontext.JobHandle
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


class IdentitySource(Protocol):
    """Who is logged in, if anyone (for audit entries)."""

    @property
    def identity(self) -> ServerIdentity | None: ...


class JobView(Protocol):
    """A submitted job as a front end follows it."""

    @property
    def state(self) -> JobState: ...
    @property
    def progress(self) -> Progress: ...
    @property
    def result(self) -> Any: ...
    @property
    def error(self) -> VmrestoreError | None: ...

    def cancel(self) -> None: ...
    def add_listener(self, cb: Callable[[Any], None]) -> Callable[[], None]: ...
    async def wait(self) -> None: ...


class JobRunner(Protocol):
    """What the CLI needs to run one job to its end: submit it, and shut the scheduler down after."""

    def submit(self, job: Any) -> Any:
        """Queue ``job``; returns its ``JobView``."""

    async def shutdown(self) -> None: ...
