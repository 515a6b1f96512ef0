"""Icons from resources/: drawn in the palette's colour, the app icon in every size, the areas' icons in the nav."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import QSettings, QSize
from PySide6.QtGui import QColor, QIcon, QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.ui.fakes import FakeServices
from vmrestore import resources
from vmrestore.ui.icons import app_icon, area_icon, icon
from vmrestore.ui.main_window import AREA_KEYS, MainWindow
from vmrestore.ui.theme import dark_palette


def _opaque_colors(image: QImage, alpha: int = 255) -> set[str]:
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    return {
        image.pixelColor(x, y).name()
        for y in range(image.height())
        for x in range(image.width())
        if image.pixelColor(x, y).alpha() >= alpha
    }


def test_icon_is_drawn_in_the_given_colour(qapp: QApplication) -> None:
    red = icon("history", QColor("#ff0000")).pixmap(24, 24).toImage()
    assert _opaque_colors(red) == {"#ff0000"}
    blue = icon("history", QColor("#0000ff")).pixmap(24, 24).toImage()
    assert _opaque_colors(blue) == {"#0000ff"}


def test_icon_follows_palette_and_greys_out_when_disabled(qapp: QApplication) -> None:
    text = qapp.palette().color(qapp.palette().ColorRole.WindowText).name()
    themed = icon("settings")
    assert _opaque_colors(themed.pixmap(24, 24).toImage()) == {text}
    disabled = _opaque_colors(themed.pixmap(QSize(24, 24), QIcon.Mode.Disabled).toImage())
    assert disabled and text not in disabled
    highlighted = qapp.palette().color(qapp.palette().ColorRole.HighlightedText).name()
    assert _opaque_colors(themed.pixmap(QSize(24, 24), QIcon.Mode.Selected).toImage()) == {highlighted}


def test_missing_icon_is_empty_and_logged(qapp: QApplication, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert icon("no_such_icon").isNull()
    assert "no_such_icon" in caplog.text


def test_app_icon_has_every_size(qapp: QApplication) -> None:
    sizes = {(s.width(), s.height()) for s in app_icon().availableSizes()}
    assert {(n, n) for n in resources.APP_ICON_SIZES} <= sizes
    tile = app_icon().pixmap(256, 256).toImage()
    assert tile.pixelColor(128, 20).blue() > 150  # the blue tile, not a blank image


@pytest.mark.asyncio
async def test_main_window_uses_app_icon_and_area_icons(
    qtbot: QtBot, services: FakeServices, ui_settings: QSettings
) -> None:
    window = MainWindow(services, ui_settings)
    qtbot.addWidget(window)
    assert window.windowIcon().cacheKey() == app_icon().cacheKey()
    for row, key in enumerate(AREA_KEYS):
        shown = window.nav.item(row).icon()
        assert not shown.isNull(), key
        assert shown.cacheKey() == area_icon(key).cacheKey(), key
        assert _opaque_colors(shown.pixmap(20, 20).toImage(), alpha=160), key  # thin strokes blend at 20 px


@pytest.mark.asyncio
async def test_area_icons_follow_a_palette_change(
    qtbot: QtBot, qapp: QApplication, services: FakeServices, ui_settings: QSettings
) -> None:
    window = MainWindow(services, ui_settings)
    qtbot.addWidget(window)
    before = qapp.palette()
    dark = dark_palette()
    try:
        qapp.setPalette(dark)
        qapp.processEvents()
        text = dark.color(dark.ColorRole.WindowText).name()
        drawn = _opaque_colors(window.nav.item(0).icon().pixmap(24, 24).toImage())
        assert drawn == {text}  # light strokes on the dark list, not the old dark ones
    finally:
        qapp.setPalette(before)
