"""Keyboard checks shared by the UI tests: mnemonics (Alt+letter) and shortcuts unique per window.

Qt activates a mnemonic of a *visible* widget only; two visible widgets of one window with the same Alt+key
make that key ambiguous (Qt then cycles focus between them or does nothing), so the check runs per window
in the state the user sees (per area of the main window, per tab of a dialog, per page of a wizard).
"""

from __future__ import annotations

from collections import defaultdict

from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QGroupBox,
    QLabel,
    QMainWindow,
    QTabBar,
    QWidget,
)


def mnemonic_of(text: str) -> str | None:
    """The letter after a single '&' ("Re&fresh" → "f"), None without one ("&&" is a literal '&')."""
    i = 0
    while i < len(text) - 1:
        if text[i] == "&":
            if text[i + 1] == "&":
                i += 2
                continue
            return text[i + 1].lower()
        i += 1
    return None


def mnemonics(window: QWidget) -> dict[str, list[str]]:
    """Alt+letter → the visible controls of ``window`` that claim it (buttons, buddy labels, tabs, menus)."""
    found: dict[str, list[str]] = defaultdict(list)

    def add(text: str, what: str) -> None:
        key = mnemonic_of(text)
        if key is not None:
            found[key].append(f"{what} {text!r}")

    if isinstance(window, QMainWindow) and window.menuBar().isVisible():
        for action in window.menuBar().actions():
            if action.isVisible():
                add(action.text(), "menu")
    for widget in window.findChildren(QWidget):
        if widget.window() is not window or not widget.isVisibleTo(window):
            continue
        if isinstance(widget, QAbstractButton):
            add(widget.text(), type(widget).__name__)
        elif isinstance(widget, QLabel) and widget.buddy() is not None and widget.buddy().isVisibleTo(window):
            add(widget.text(), "label")
        elif isinstance(widget, QGroupBox) and widget.isCheckable():
            add(widget.title(), "group")
        elif isinstance(widget, QTabBar):
            for index in range(widget.count()):
                if widget.isTabVisible(index):
                    add(widget.tabText(index), "tab")
    return dict(found)


def mnemonic_conflicts(window: QWidget) -> dict[str, list[str]]:
    return {key: names for key, names in mnemonics(window).items() if len(names) > 1}


def shortcut_conflicts(window: QWidget) -> dict[str, list[str]]:
    """Explicit shortcuts (actions, QShortcut, buttons) of ``window`` that more than one control claims."""
    found: dict[str, list[str]] = defaultdict(list)
    for action in window.findChildren(QAction):
        if not action.isEnabled() or not action.isVisible():
            continue
        for seq in action.shortcuts():
            found[seq.toString()].append(f"action {action.text()!r}")
    for shortcut in window.findChildren(QShortcut):
        parent = shortcut.parent()
        if isinstance(parent, QWidget) and (not parent.isVisibleTo(window) and parent is not window):
            continue
        if shortcut.isEnabled() and not shortcut.key().isEmpty():
            found[shortcut.key().toString()].append(f"shortcut of {type(parent).__name__}")
    for button in window.findChildren(QAbstractButton):
        if button.window() is not window or not button.isVisibleTo(window) or button.shortcut().isEmpty():
            continue
        letter = mnemonic_of(button.text())
        if letter is None or button.shortcut() != QKeySequence(f"Alt+{letter}"):  # not just its own mnemonic
            found[button.shortcut().toString()].append(f"button {button.text()!r}")
    return {key: names for key, names in found.items() if len(names) > 1}


ENTER_AND_ESCAPE = ("OK", "Cancel", "Close")  # reached with Enter and Esc, as in every Windows dialog


def buttons_without_key(window: QWidget) -> list[str]:
    """Visible buttons of ``window`` that no key reaches: no Alt+letter, no shortcut, not OK/Cancel/Close."""
    return [b.text() for b in window.findChildren(QAbstractButton)
            if b.window() is window and b.isVisibleTo(window) and b.text() and b.text() not in ENTER_AND_ESCAPE
            and mnemonic_of(b.text()) is None and b.shortcut().isEmpty()]
