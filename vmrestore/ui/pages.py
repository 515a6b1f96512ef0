"""Which page fills each area of the main window: the UI's own small composition root.

Pages that are built get a factory here; an area without one keeps its placeholder (it says what will
be there, it never shows made-up data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QWidget


def default_area_pages(services: Any) -> dict[str, Callable[[QWidget], QWidget]]:
    def snapshots(parent: QWidget) -> QWidget:
        from vmrestore.ui.snapshots.page import SnapshotsPage

        return SnapshotsPage(services, parent=parent)

    return {"snapshots": snapshots}
