"""Which page fills each area of the main window: the UI's own small composition root.

Pages that are built get a factory here; an area without one keeps its placeholder (it says what will
be there, it never shows made-up data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from vmrestore.ui.ports import ServicesLike
    from vmrestore.ui.snapshots.watch import SnapshotWatcher


def default_area_pages(services: ServicesLike) -> dict[str, Callable[[QWidget], QWidget]]:
    def snapshots(parent: QWidget) -> QWidget:
        from vmrestore.ui.snapshots.page import SnapshotsPage

        uses = services.snapshots
        return SnapshotsPage(services.settings, uses.scan, uses.cleanup, uses.orphans, parent=parent)

    pages: dict[str, Callable[[QWidget], QWidget]] = {"snapshots": snapshots}
    from vmrestore.ui.mounts.page import mounted_factory

    mounts = mounted_factory(services)
    if mounts is not None:
        pages["mounts"] = _with_instant_vms(services, mounts)
    return pages


def _with_instant_vms(services: ServicesLike, factory: Callable[[QWidget], Any]) -> Callable[[QWidget], QWidget]:
    """The Mounted page with the instant VMs' section (ui/instant/section.py) below the hot-added disks."""

    def make(parent: QWidget) -> QWidget:
        from vmrestore.model import Role
        from vmrestore.ui.instant.section import InstantSection

        page = factory(parent)
        admin = services.settings.role == Role.ADMIN
        section = InstantSection(services.instant, services.scheduler, page, allowed=admin,
                                 why_not="Instant recovery, migrate and discard need the admin role")
        page.add_section("Instant VMs — running straight from backup storage", section)
        page.instant_section = section
        return page  # type: ignore[no-any-return]

    return make


def snapshot_watch(services: ServicesLike, tray: Any, parent: QObject) -> SnapshotWatcher | None:
    """The background snapshot watch, started, when the settings turn it on and there is a tray."""
    from vmrestore.app.snapshots.watch import SnapshotWatch, watch_interval_minutes

    minutes = watch_interval_minutes(services.settings)
    if tray is None or minutes <= 0:
        return None
    from vmrestore.ui.snapshots.watch import SnapshotWatcher

    connection = services.connection
    watcher = SnapshotWatcher(lambda: connection.identity is not None, services.snapshots.scan, tray,
                              int(minutes * 60_000), SnapshotWatch.from_settings(services.settings), parent=parent)
    watcher.start()
    return watcher
