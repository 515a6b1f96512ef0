"""The Restore points area: browse, search, compare versions and restore guest files to this computer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QWidget

from .page import RestorePointsPage

__all__ = ["RestorePointsPage", "restore_points_factory"]


def restore_points_factory(services: Any) -> Callable[[QWidget], QWidget] | None:
    """The page factory for ``MainWindow``'s "points" area; None when ``services`` has no catalog."""
    if getattr(services, "catalog", None) is None:
        return None
    return lambda parent: RestorePointsPage(services, parent)
