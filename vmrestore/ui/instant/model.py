"""The instant VMs as a table: one row per instant recovery, live power/Tools/IP and job progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from vmrestore.ui.formatting import local_time

SortRole = Qt.ItemDataRole.UserRole + 1
RowRole = Qt.ItemDataRole.UserRole + 2

COL_VM, COL_STATE, COL_HOST, COL_DATASTORE, COL_POINT, COL_STARTED = range(6)
HEADERS = ("VM", "State", "Host", "Datastore", "Source restore point", "Started")

AnyIndex = QModelIndex | QPersistentModelIndex
_TOOLS = {"toolsOk": "Tools OK", "toolsOld": "Tools old", "toolsNotRunning": "Tools not running",
          "toolsNotInstalled": "no Tools", "guestToolsRunning": "Tools OK", "guestToolsNotRunning": "Tools not running"}


@dataclass
class InstantRow:
    record: Any  # app.instant.records.InstantVm
    live: dict[str, Any] = field(default_factory=dict)  # power, tools, ip
    progress: str = ""  # the running migrate/discard job's last progress text

    @property
    def state_text(self) -> str:
        power = self.live.get("power")
        ip = self.live.get("ip")
        tools = self.live.get("tools")
        if self.progress:  # a migrate or discard is running: its progress says more than the last state
            return f"{self.record.state}: {self.progress}"
        bits = [self.record.state]
        if power:
            bits.append({"poweredOn": "powered on", "poweredOff": "powered off"}.get(power, power))
        if tools and tools != "unknown":
            bits.append(_TOOLS.get(tools, f"Tools {tools}"))
        if ip:
            bits.append(f"IP {ip}")
        if self.record.colleague:  # another workstation's (shared catalog): shown, acted on there
            creator = self.record.creator
            bits.append(f"started on {creator.workstation} by {creator.user}" if creator else
                        "started on another workstation")
        return ", ".join(bits)


class InstantVmsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[InstantRow] = []

    def rows(self) -> list[InstantRow]:
        return list(self._rows)

    def set_rows(self, rows: list[InstantRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def set_progress(self, instant_id: str, text: str) -> None:
        for n, row in enumerate(self._rows):
            if row.record.id == instant_id:
                row.progress = text
                self.dataChanged.emit(self.index(n, 0), self.index(n, len(HEADERS) - 1))

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        rec, col = row.record, index.column()
        if role == RowRole:
            return row
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return (rec.name, row.state_text, rec.host_name, rec.datastore, rec.point,
                    local_time(rec.started)[:16])[col]
        if role == SortRole:
            return rec.started.timestamp() if col == COL_STARTED else self.data(index)
        return None
