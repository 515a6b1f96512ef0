"""A page for an area that is not built yet: it says what will be there, and shows no made-up data."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class PlaceholderPage(QWidget):
    def __init__(self, title: str, description: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(f"{title} (not available yet)")
        heading = QLabel(f"<h2>{title}</h2>", self)
        body = QLabel(description, self)
        body.setWordWrap(True)
        body.setTextFormat(Qt.TextFormat.RichText)
        note = QLabel("<i>This area is not available in this version yet.</i>", self)
        for label in (heading, body, note):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(body)
        layout.addSpacing(12)
        layout.addWidget(note)
        layout.addStretch(1)
