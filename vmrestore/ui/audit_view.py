"""The Audit area: who did what, and a button that verifies the log's hash chain."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .audit_model import AuditModel, AuditSortProxy
from .errors import describe
from .ports import AuditLike
from .tasks import TaskSet, call_io

log = logging.getLogger(__name__)


class AuditView(QWidget):
    def __init__(self, audit: AuditLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._audit = audit
        self._tasks = TaskSet()
        self.model = AuditModel(self)
        self._proxy = AuditSortProxy(self)
        self._proxy.setSourceModel(self.model)

        title = QLabel("<h2>Audit log</h2>", self)
        hint = QLabel(
            "Every action taken with vmrestore, newest first. Each entry is chained to the previous one by a "
            "hash, so a changed or deleted entry shows up when you verify the chain.",
            self,
        )
        hint.setWordWrap(True)

        self.filter = QLineEdit(self)
        self.filter.setObjectName("auditFilter")
        self.filter.setPlaceholderText("Filter (user, action, target…)")
        self.filter.setAccessibleName("Filter audit entries")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._proxy.setFilterFixedString)

        self.refresh_button = QPushButton("&Refresh", self)
        self.refresh_button.setObjectName("auditRefresh")
        self.refresh_button.setAccessibleName("Reload the audit log")
        self.refresh_button.clicked.connect(self.refresh)

        self.verify_button = QPushButton("V&erify chain", self)
        self.verify_button.setObjectName("auditVerify")
        self.verify_button.setAccessibleName("Verify the audit log hash chain")
        self.verify_button.clicked.connect(self.verify)

        self.table = QTableView(self)
        self.table.setObjectName("auditTable")
        self.table.setAccessibleName("Audit entries")
        self.table.setModel(self._proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(AuditModel.COL_TIME, Qt.SortOrder.DescendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        # At 1024x700 every column must show: Result sits next to Action, and Target (the long one) takes what
        # is left, elided in the middle (its full text is in the tooltip).
        header.moveSection(header.visualIndex(AuditModel.COL_RESULT), header.visualIndex(AuditModel.COL_TARGET))
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        for column, width in ((AuditModel.COL_TIME, 140), (AuditModel.COL_OS_USER, 80), (AuditModel.COL_VC_USER, 130),
                              (AuditModel.COL_ROLE, 70), (AuditModel.COL_ACTION, 100), (AuditModel.COL_RESULT, 80)):
            self.table.setColumnWidth(column, width)

        self.status = QLabel("", self)
        self.status.setObjectName("auditStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setAccessibleName("Audit status")

        tools = QHBoxLayout()
        tools.addWidget(self.filter, 1)
        tools.addWidget(self.refresh_button)
        tools.addWidget(self.verify_button)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addLayout(tools)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        self.setTabOrder(self.filter, self.refresh_button)
        self.setTabOrder(self.refresh_button, self.verify_button)
        self.setTabOrder(self.verify_button, self.table)

    def showEvent(self, event: QShowEvent) -> None:
        # Reload each time the page is shown: other actions append entries meanwhile.
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        self._tasks.spawn(self.load(), name="audit-load")

    def verify(self) -> None:
        self._tasks.spawn(self.run_verify(), name="audit-verify")

    async def load(self) -> None:
        self.refresh_button.setEnabled(False)
        try:
            entries = await call_io(self._audit.entries)
        except Exception as exc:
            log.warning("Reading the audit log failed", exc_info=True)
            self.status.setText(f"Could not read the audit log: {describe(exc).text}")
            return
        finally:
            self.refresh_button.setEnabled(True)
        self.model.set_entries(list(entries))
        total = self.model.total()
        self.status.setText(
            f"{total} entries." if total else "No entries yet: connecting, restores and clean-ups appear here."
        )

    async def run_verify(self) -> None:
        self.verify_button.setEnabled(False)
        self.status.setText("Verifying the hash chain…")
        try:
            result: Any = await call_io(self._audit.verify)
        except Exception as exc:
            log.warning("Verifying the audit log failed", exc_info=True)
            self.status.setText(f"Could not verify the audit log: {describe(exc).text}")
            return
        finally:
            self.verify_button.setEnabled(True)
        self.status.setText(verification_text(result))
        self.status.setProperty("problem", not result.ok)
        self.status.setStyleSheet("" if result.ok else "color: #d32f2f; font-weight: bold;")


def verification_text(result: Any) -> str:
    if result.ok:
        return f"✔ Chain intact: {result.entries} entries verified, none changed, removed or reordered."
    problems = [str(p) for p in result.problems]
    shown = "\n".join(f"• {p}" for p in problems[:20])
    more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
    return f"✘ Chain BROKEN ({result.entries} entries checked, {len(problems)} problems):\n{shown}{more}"
