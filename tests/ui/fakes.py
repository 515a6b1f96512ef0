"""Fakes of *our own* ports for the UI tests, following the vmrestore.app contract.

The engine parts are real (a ``Scheduler`` on a real ``StateStore`` and ``Journal`` in a temp folder, a real
``AuditLog``); only the vCenter connection is a fake, scripted per test with the outcomes the real
``ConnectionService`` produces (identity, ``CertificateUntrusted``, ``CertificateChanged``, ``AuthFailed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vmrestore import model
from vmrestore.engine.audit import AuditLog
from vmrestore.engine.jobs import JobContext, Scheduler
from vmrestore.engine.journal import Journal
from vmrestore.engine.state import StateStore

try:  # the engine moved ProcessOwner around while these tests were written
    from vmrestore.engine.owner import ProcessOwner
except ImportError:  # pragma: no cover
    from vmrestore.engine.journal import ProcessOwner  # type: ignore[no-redef, attr-defined]

IDENTITY = model.ServerIdentity(
    server="vc01.corp.example",
    user="administrator@vsphere.local",
    thumbprint="AB:CD:" + ":".join(f"{i:02X}" for i in range(30)),
    api_version="8.0.2.0",
    certificate_state="pinned",
)


class RealEngine:
    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.state = StateStore(home / "state.sqlite")
        self.owner = ProcessOwner(home / "owners")
        self.journal = Journal(self.state, self.owner)
        self.scheduler = Scheduler(self.state, self.journal, {"datastore": 1})
        self.audit = AuditLog(home / "audit.log", head_store=self.state)

    def close(self) -> None:
        for name in ("close", "release"):
            fn = getattr(self.owner, name, None)
            if fn is not None:
                fn()
                break
        self.state.close()


class FakeConnection:
    """Scripted ``ConnectionService``: each ``connect`` pops the next outcome (an identity or an error)."""

    def __init__(self, outcomes: list[Any] | None = None) -> None:
        self.identity: model.ServerIdentity | None = None
        self.outcomes: list[Any] = list(outcomes or [])
        self.calls: list[tuple[Any, ...]] = []
        self.saved: set[tuple[str, str]] = set()
        self.warnings: list[str] = []
        self.lost: str | None = None
        self.gate: asyncio.Event | None = None  # when set, connect waits for it (to test busy/cancel)
        self._listeners: list[Callable[[model.ServerIdentity | None], None]] = []

    def add_listener(self, cb: Callable[[model.ServerIdentity | None], None]) -> Callable[[], None]:
        self._listeners.append(cb)
        return lambda: self._listeners.remove(cb) if cb in self._listeners else None

    def set_identity(self, identity: model.ServerIdentity | None) -> None:
        self.identity = identity
        for cb in list(self._listeners):
            cb(identity)

    def saved_password_available(self, url: str, username: str) -> bool:
        return (url, username) in self.saved

    async def connect(
        self, url: str, username: str, password: str | None, *, save_password: bool = False
    ) -> model.ServerIdentity:
        self.calls.append(("connect", url, username, password, save_password))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        outcome = self.outcomes.pop(0) if self.outcomes else IDENTITY
        if isinstance(outcome, BaseException):
            raise outcome
        self.set_identity(outcome)
        return outcome

    async def check_alive(self) -> bool:
        return self.identity is not None

    async def trust(self, server: str, thumbprint: str) -> None:
        self.calls.append(("trust", server, thumbprint))

    async def disconnect(self) -> None:
        self.calls.append(("disconnect",))
        self.set_identity(None)


@dataclass
class FakePaths:
    home: Path


@dataclass
class FakeSettings:
    role: model.Role = model.Role.ADMIN
    last_server: str | None = None
    last_user: str | None = None
    snapshot_max_age_days: int = 7
    snapshot_max_datastore_share: float = 0.10
    snapshot_watch_minutes: int = 0
    snapshot_cleanup_min_age_hours: float = 24.0
    saves: int = 0

    def save(self) -> None:
        self.saves += 1


@dataclass
class SweepOutcome:
    found: list[Any] = field(default_factory=list)
    undone: list[Any] = field(default_factory=list)
    failed: list[Any] = field(default_factory=list)


class NoSnapshots:
    """The snapshot use-case ports of a window without a vCenter: every call says so, as the real ones do."""

    def __init__(self) -> None:
        self.scan = self
        self.cleanup = self
        self.orphans = self

    async def run(self, **_kwargs: Any) -> Any:
        from vmrestore.app.connection import NotConnected

        raise NotConnected()


class NoInstantVms:
    """Instant recovery's port without a vCenter: nothing started here; every vCenter read says so."""

    def list(self, *, include_finished: bool = False, colleagues: bool = False) -> list[Any]:
        return []

    def _not_connected(self, *_args: Any, **_kwargs: Any) -> Any:
        from vmrestore.app.connection import NotConnected

        raise NotConnected()

    hosts = placement = plan_start = start_job = migrate_job = plan_discard = discard_job = _not_connected

    def points(self) -> list[Any]:
        return []

    def default_name(self, vm: str) -> str:
        return f"{vm}-restored"

    def live_state(self, rec: Any) -> dict[str, Any]:
        return {}


class FakeServices:
    """``AppServices`` with the real engine and a fake connection."""

    def __init__(self, home: Path, engine: RealEngine, connection: FakeConnection) -> None:
        self.paths = FakePaths(home)
        self.settings = FakeSettings()
        self.scheduler: Scheduler = engine.scheduler
        self.audit: AuditLog = engine.audit
        self.connection = connection
        self.sweep_result = SweepOutcome()
        self.snapshots = NoSnapshots()
        self.instant = NoInstantVms()
        self.closed = False

    async def sweep(self) -> SweepOutcome:
        return self.sweep_result

    async def aclose(self) -> None:
        await self.scheduler.shutdown()
        self.closed = True


class ScriptedJob:
    """A real ``Job`` for the real scheduler: reports what the test feeds it, ends when told."""

    def __init__(self, title: str = "Restore Q3-report.xlsx", kind: str = "extract") -> None:
        self.kind = kind
        self.title = title
        self.resource_keys: tuple[str, ...] = ()
        self.ctx: JobContext | None = None
        self.steps: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def progress(self, fraction: float | None, text: str) -> None:
        self.steps.put_nowait(("progress", (fraction, text)))

    def log(self, line: str) -> None:
        self.steps.put_nowait(("log", line))

    def finish(self, result: Any = None) -> None:
        self.steps.put_nowait(("finish", result))

    def fail(self, error: BaseException) -> None:
        self.steps.put_nowait(("fail", error))

    async def run(self, ctx: JobContext) -> Any:
        self.ctx = ctx
        while True:
            kind, value = await self.steps.get()
            if kind == "progress":
                ctx.progress(*value)
            elif kind == "log":
                ctx.log(value)
            elif kind == "finish":
                return value
            elif kind == "fail":
                raise value


class FakeHandle:
    """A hand-driven ``JobHandle`` for the bridge's timing tests (the real one is driven by the scheduler)."""

    def __init__(self, job_id: str = "j1", title: str = "Index restore points") -> None:
        self.id = job_id
        self.kind = "index"
        self.title = title
        self.state = model.JobState.QUEUED
        self.progress = model.Progress(None, "Queued")
        self.started: datetime | None = None
        self.finished: datetime | None = None
        self.error: Any = None
        self.result: Any = None
        self.log_lines: list[str] = []
        self.cancelled_calls = 0
        self._listeners: list[Callable[[Any], None]] = []

    def add_listener(self, cb: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(cb)
        return lambda: self._listeners.remove(cb) if cb in self._listeners else None

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def cancel(self) -> None:
        self.cancelled_calls += 1

    def set(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        if changes.get("state") is model.JobState.RUNNING and self.started is None:
            self.started = datetime.now(UTC)
        for cb in list(self._listeners):
            cb(self)
