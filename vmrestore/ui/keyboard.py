"""Keyboard behaviour shared by every window: Tab moves between controls, it never walks table cells.

QTableView's default (tab key navigation on) makes Tab go from cell to cell, so a keyboard user never
leaves a table (in search results Tab never reached "Restore to this computer…"). Arrow keys still move
inside a table; Tab and Shift+Tab leave it, as in Windows' own list views.
"""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QWidget


def tab_leaves_views(root: QWidget) -> int:
    """Turn off Tab-walks-cells on every item view under ``root``; returns how many views were changed."""
    changed = 0
    for view in root.findChildren(QAbstractItemView):
        if view.tabKeyNavigation():
            view.setTabKeyNavigation(False)
            changed += 1
    return changed
