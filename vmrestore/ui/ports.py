"""What the UI needs from the application layer, as structural types.

These Protocols mirror the contract of ``vmrestore.app`` (``AppServices``, ``ConnectionService``) and of the
engine's ``Scheduler``/``JobHandle`` and ``AuditLog``. The UI is typed against them so that it depends on
behaviour, not on concrete classes: the composition root passes the real objects, tests pass small fakes of
these same ports. Nothing here imports ``vmrestore.app`` or the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from vmrestore import model
from vmrestore.errors import VmrestoreError

if TYPE_CHECKING:
    from vmrestore.ui.snapshots.page import Scanner
    from vmrestore.ui.snapshots.wizard import CleanupPort

Unsubscribe = Callable[[], None]


class JobHandleLike(Protocol):
    id: str
    kind: str
    title: str
    state: model.JobState
    progress: model.Progress
    started: datetime | None
    finished: datetime | None
    error: VmrestoreError | None
    result: Any
    log_lines: list[str]

    def cancel(self) -> None: ...

    def add_listener(self, cb: Callable[[Any], None]) -> Unsubscribe: ...


class SchedulerLike(Protocol):
    def jobs(self) -> Sequence[Any]: ...

    def submit(self, job: Any) -> Any: ...

    def add_listener(self, cb: Callable[[Any], None]) -> Unsubscribe: ...


class AuditEntryLike(Protocol):
    # Read-only: the engine's entries are frozen dataclasses.
    @property
    def seq(self) -> int: ...
    @property
    def time(self) -> datetime: ...
    @property
    def os_user(self) -> str: ...
    @property
    def vcenter_user(self) -> str | None: ...
    @property
    def role(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def result(self) -> str: ...
    @property
    def detail(self) -> Any: ...


class AuditVerificationLike(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def entries(self) -> int: ...
    @property
    def problems(self) -> Sequence[Any]: ...


class AuditLike(Protocol):
    # ``entries`` and ``verify`` may be plain (file I/O: the UI runs them in an executor) or coroutines.
    def entries(self, since: datetime | None = None) -> Any: ...

    def verify(self) -> Any: ...


class ConnectionLike(Protocol):
    @property
    def identity(self) -> model.ServerIdentity | None: ...

    @property
    def lost(self) -> str | None: ...

    async def check_alive(self) -> bool: ...

    async def connect(
        self, url: str, username: str, password: str | None, *, save_password: bool = False
    ) -> model.ServerIdentity: ...

    async def trust(self, server: str, thumbprint: str) -> None: ...

    def saved_password_available(self, url: str, username: str) -> bool: ...

    async def disconnect(self) -> None: ...

    def add_listener(self, cb: Callable[[model.ServerIdentity | None], None]) -> Unsubscribe: ...


class PathsLike(Protocol):
    @property
    def home(self) -> Path: ...


class SettingsLike(Protocol):
    role: model.Role
    last_server: str | None
    last_user: str | None
    snapshot_max_age_days: int
    snapshot_max_datastore_share: float
    snapshot_watch_minutes: int
    snapshot_cleanup_min_age_hours: float

    def save(self) -> None: ...


class SnapshotUseCasesLike(Protocol):
    """The snapshot monitor's use cases, built once by the composition root."""

    @property
    def scan(self) -> Scanner: ...

    @property
    def cleanup(self) -> CleanupPort: ...

    @property
    def orphans(self) -> Any: ...


class ServicesLike(Protocol):
    # Read-only properties, so that the concrete ``AppServices`` may declare its own (narrower) types.
    @property
    def paths(self) -> PathsLike: ...

    @property
    def settings(self) -> SettingsLike: ...

    @property
    def scheduler(self) -> SchedulerLike: ...

    @property
    def audit(self) -> AuditLike: ...

    @property
    def connection(self) -> ConnectionLike: ...

    @property
    def snapshots(self) -> SnapshotUseCasesLike: ...

    @property
    def instant(self) -> Any: ...  # app.instant.service.InstantRecovery (ui/instant/ports.py: InstantPort)

    async def sweep(self) -> Any: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class NeedsConnection(Protocol):
    """A page with actions that need vCenter: the window tells it when the connection comes and goes."""

    def set_connected(self, connected: bool) -> None: ...
