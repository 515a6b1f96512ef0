"""The chart of snapshot bytes per datastore against free space, and one VM's snapshot tree."""

from __future__ import annotations

from typing import Any

from PySide6.QtCharts import QBarCategoryAxis, QBarSeries, QBarSet, QChart, QChartView, QValueAxis
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem

from vmrestore.app.snapshots.types import SnapshotReport, VmReport
from vmrestore.model import format_size

GIB = 1024**3


class DeltaChart(QChartView):
    """Grouped bars per datastore: snapshot (delta) bytes and free space, in GiB."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Snapshot bytes per datastore against free space")
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.delta_set: QBarSet | None = None
        self.free_set: QBarSet | None = None
        self.categories: list[str] = []
        self.axis_labels: list[str] = []
        self.set_report(None)

    def set_report(self, report: SnapshotReport | None) -> None:
        chart = QChart()
        chart.setTitle("Snapshot data per datastore")
        stores = list(report.datastores) if report is not None else []
        self.delta_set = QBarSet("Snapshot data (GiB)")
        self.free_set = QBarSet("Free (GiB)")
        for d in stores:
            self.delta_set.append(d.delta_bytes / GIB)
            self.free_set.append(d.datastore.free / GIB)
        series = QBarSeries()
        series.append(self.delta_set)
        series.append(self.free_set)
        chart.addSeries(series)
        self.categories = [d.datastore.name for d in stores]
        # Snapshot data is often tiny next to free space, so its bar may not show: the label says it.
        self.axis_labels = [f"{d.datastore.name} · {format_size(d.delta_bytes)} ({d.share:.1%})"
                            for d in stores]
        axis_x = QBarCategoryAxis()
        axis_x.append(self.axis_labels)
        axis_x.setTruncateLabels(False)
        axis_y = QValueAxis()
        top = max([d.datastore.free / GIB for d in stores] + [d.delta_bytes / GIB for d in stores] + [1.0])
        axis_y.setRange(0, top * 1.1)
        axis_y.setTitleText("GiB")
        chart.addAxis(axis_x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(axis_y, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(axis_x)
        series.attachAxis(axis_y)
        chart.legend().setVisible(True)
        old = self.chart()
        self.setChart(chart)
        if old is not None:
            old.deleteLater()


class SnapshotTree(QTreeWidget):
    """One VM's snapshot tree: parents above children, the current snapshot marked."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Snapshot tree of the selected VM")
        self.setHeaderLabels(["Snapshot", "Created", "Size", "Class", "Quiesced", "Memory"])
        self.setColumnCount(6)

    def show_vm(self, vm: VmReport | None) -> None:
        self.clear()
        if vm is None:
            return
        items: dict[str, QTreeWidgetItem] = {}
        for s in vm.snapshots:
            snap = s.snapshot
            label = snap.name + ("  (you are here)" if snap.is_current else "")
            item = QTreeWidgetItem([label, snap.created.astimezone().strftime("%Y-%m-%d %H:%M"),
                                    format_size(snap.size), ", ".join(str(c) for c in s.classes),
                                    "yes" if snap.quiesced else "no", "yes" if snap.memory else "no"])
            item.setToolTip(0, snap.description or snap.name)
            parent = items.get(snap.parent or "")
            if parent is not None:
                parent.addChild(item)
            else:
                self.addTopLevelItem(item)
            items[snap.moref] = item
        self.expandAll()
        for col in range(self.columnCount()):
            self.resizeColumnToContents(col)
