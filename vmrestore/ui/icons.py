"""QIcons from the app's icon set (resources/icons, Fluent UI System Icons, MIT) and the application icon.

The set's SVGs are monochrome with no fill: they are drawn here in the palette's text colour, so they follow
the light/dark theme, in the disabled text colour for the disabled state and in the highlighted-text colour
when selected (a selected navigation entry: white on the selection colour, like its text). Icons are rendered once per
(name, colour) into pixmaps at the sizes the UI uses; a missing file gives an empty icon and a log line
rather than a crash (a broken install still opens, and ``vmrestore --self-check`` reports it).
"""

from __future__ import annotations

import logging
from functools import lru_cache

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from vmrestore import resources

log = logging.getLogger(__name__)

_SIZES = (16, 20, 24, 32, 40, 48, 64)


def icon(name: str, color: QColor | None = None) -> QIcon:
    """The icon ``resources/icons/<name>.svg`` in ``color`` (default: the application palette's text colour)."""
    palette = QGuiApplication.palette()
    normal = color if color is not None else palette.color(QPalette.ColorRole.WindowText)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
    selected = palette.color(QPalette.ColorRole.HighlightedText)  # on the selection colour, like the item's text
    argb = QColor.NameFormat.HexArgb
    return _cached(name, normal.name(argb), disabled.name(argb), selected.name(argb))


def area_icon(area: str) -> QIcon:
    """The icon of a main-window area ("points", "snapshots", "jobs", "audit", "settings", "mounts")."""
    return icon(resources.AREA_ICONS[area])


@lru_cache(maxsize=1)
def app_icon() -> QIcon:
    """The application icon (window, tray, about box) from its pre-rendered PNGs, every size."""
    result = QIcon()
    try:
        for size in resources.APP_ICON_SIZES:
            result.addFile(str(resources.app_icon_path("png", size)))
    except FileNotFoundError:
        log.warning("The application icon is missing", exc_info=True)
    return result


@lru_cache(maxsize=256)
def _cached(name: str, normal: str, disabled: str, selected: str) -> QIcon:
    try:
        svg = resources.icon_path(name).read_bytes()
    except FileNotFoundError:
        log.warning("Icon %r is missing", name, exc_info=True)
        return QIcon()
    result = QIcon()
    for mode, color in ((QIcon.Mode.Normal, normal), (QIcon.Mode.Disabled, disabled), (QIcon.Mode.Selected, selected)):
        renderer = QSvgRenderer(QByteArray(_colored(svg, color)))
        for size in _SIZES:
            result.addPixmap(_render(renderer, size), mode)
    return result


def _colored(svg: bytes, color: str) -> bytes:
    """Give the root element a fill: the set's paths inherit it (they carry none of their own)."""
    qcolor = QColor(color)
    rgb, alpha = qcolor.name(QColor.NameFormat.HexRgb), qcolor.alphaF()
    return svg.replace(b"<svg ", f'<svg fill="{rgb}" fill-opacity="{alpha:.3f}" '.encode(), 1)


def _render(renderer: QSvgRenderer, size: int) -> QPixmap:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return QPixmap.fromImage(image)
