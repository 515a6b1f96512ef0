"""Fusion style with a palette that follows the system's light/dark setting (Qt 6.5+)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

_Role = QPalette.ColorRole
_Group = QPalette.ColorGroup


def dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(230, 230, 230)
    disabled = QColor(130, 130, 130)
    highlight = QColor(42, 130, 218)
    for role, color in (
        (_Role.Window, window),
        (_Role.WindowText, text),
        (_Role.Base, base),
        (_Role.AlternateBase, QColor(40, 40, 43)),
        (_Role.ToolTipBase, QColor(60, 60, 64)),
        (_Role.ToolTipText, text),
        (_Role.PlaceholderText, QColor(150, 150, 150)),
        (_Role.Text, text),
        (_Role.Button, QColor(53, 53, 57)),
        (_Role.ButtonText, text),
        (_Role.BrightText, QColor(255, 80, 80)),
        (_Role.Light, QColor(75, 75, 80)),
        (_Role.Midlight, QColor(62, 62, 66)),
        (_Role.Mid, QColor(45, 45, 48)),
        (_Role.Dark, QColor(25, 25, 27)),
        (_Role.Shadow, QColor(10, 10, 10)),
        (_Role.Link, QColor(90, 160, 240)),
        (_Role.LinkVisited, QColor(160, 120, 230)),
        (_Role.Highlight, highlight),
        (_Role.HighlightedText, QColor(255, 255, 255)),
    ):
        p.setColor(role, color)
    for role in (_Role.WindowText, _Role.Text, _Role.ButtonText, _Role.HighlightedText):
        p.setColor(_Group.Disabled, role, disabled)
    p.setColor(_Group.Disabled, _Role.Highlight, QColor(80, 80, 80))
    return p


def is_dark(app: QGuiApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication, appearance: str | None = None) -> None:
    """Use Fusion everywhere (it renders both schemes well); follow the system scheme unless told otherwise.

    ``appearance`` is the setting (``system``, ``light``, ``dark``); called again it switches at once.
    """
    first = not getattr(app, "_vmrestore_themed", False)
    if appearance is not None:
        app.setProperty("vmrestoreAppearance", appearance)  # Settings › Appearance
    if first:
        style = QStyleFactory.create("Fusion")
        if style is not None:
            app.setStyle(style)
        app.styleHints().colorSchemeChanged.connect(lambda _scheme: _update(app))
        app._vmrestore_themed = True  # type: ignore[attr-defined]
    _update(app)


def _update(app: QApplication) -> None:
    mode = app.property("vmrestoreAppearance") or "system"
    dark = is_dark(app) if mode == "system" else mode == "dark"
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
