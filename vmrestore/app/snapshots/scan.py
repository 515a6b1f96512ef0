"""The scan use case: read the snapshot picture from vCenter and classify it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from vmrestore.app.bootstrap import AppServices
from vmrestore.app.snapshots.classify import Thresholds, build_report
from vmrestore.app.snapshots.types import SnapshotReport
from vmrestore.model import Action
from vmrestore.vsphere.snapshots import scan as vscan

Progress = Callable[[str], None]


class ScanSnapshots:
    """``run`` for the GUI (awaits an executor thread), ``run_blocking`` for the CLI."""

    def __init__(self, services: AppServices, clock: Callable[[], datetime] | None = None) -> None:
        self.services = services
        self.clock = clock or (lambda: datetime.now(UTC))

    def thresholds(self) -> Thresholds:
        return Thresholds.from_settings(self.services.settings)

    def run_blocking(
        self, *, datastore: str | None = None, orphans: bool = True, progress: Progress | None = None
    ) -> SnapshotReport:
        self.services.require(Action.BROWSE)
        session = self.services.connection.session
        result = vscan.scan(session, datastore=datastore, orphans=orphans, progress=progress)
        return build_report(result, self.thresholds(), self.clock())

    async def run(
        self, *, datastore: str | None = None, orphans: bool = True, progress: Progress | None = None
    ) -> SnapshotReport:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: self.run_blocking(datastore=datastore, orphans=orphans, progress=progress)
        )
