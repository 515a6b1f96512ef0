"""The scan use case: read the snapshot picture from vCenter and classify it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from vmrestore.app.ports import RoleGate, SessionSource
from vmrestore.app.snapshots.classify import Thresholds, build_report
from vmrestore.app.snapshots.types import SnapshotReport
from vmrestore.model import Action
from vmrestore.vsphere.snapshots import scan as vscan

Progress = Callable[[str], None]


class SnapshotSettings(Protocol):
    """The settings the snapshot monitor reads (``app.settings.AppSettings`` has them)."""

    @property
    def snapshot_max_age_days(self) -> float: ...
    @property
    def snapshot_max_bytes(self) -> int: ...
    @property
    def snapshot_max_datastore_share(self) -> float: ...
    @property
    def snapshot_cleanup_min_age_hours(self) -> float: ...
    @property
    def leftover_patterns(self) -> list[str]: ...


class ScanSnapshots:
    """``run`` for the GUI (awaits an executor thread), ``run_blocking`` for the CLI."""

    def __init__(
        self, connection: SessionSource, gate: RoleGate, settings: SnapshotSettings,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.connection = connection
        self.gate = gate
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))

    def thresholds(self) -> Thresholds:
        return Thresholds.from_settings(self.settings)

    def run_blocking(
        self, *, datastore: str | None = None, orphans: bool = True, progress: Progress | None = None
    ) -> SnapshotReport:
        self.gate.require(Action.BROWSE)
        session = self.connection.session
        result = vscan.scan(session, datastore=datastore, orphans=orphans, progress=progress)
        return build_report(result, self.thresholds(), self.clock())

    async def run(
        self, *, datastore: str | None = None, orphans: bool = True, progress: Progress | None = None
    ) -> SnapshotReport:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: self.run_blocking(datastore=datastore, orphans=orphans, progress=progress)
        )
