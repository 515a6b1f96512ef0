"""``SnapshotsPage``: the snapshot monitor tab (table, chart, tree, exports, cleanup wizard)."""

from __future__ import annotations

import asyncio
import csv
import html
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vmrestore.app.snapshots.types import SnapshotClass, SnapshotReport, snapshot_json
from vmrestore.model import Role, format_size
from vmrestore.ui.errors import describe
from vmrestore.ui.snapshots.models import COL_VM, RowRole, SnapshotFilterProxy, SnapshotTableModel, snapshot_rows
from vmrestore.ui.snapshots.orphans_wizard import OrphanWizard
from vmrestore.ui.snapshots.views import DeltaChart, SnapshotTree
from vmrestore.ui.snapshots.wizard import CleanupPort, CleanupWizard
from vmrestore.ui.tasks import call_io

# Rows handed to the table per turn of the event loop: each chunk costs the sort proxy about
# CHUNK_ROWS x log2(rows) comparisons and the view a relayout, a few milliseconds, so the window keeps
# painting while a big scan fills it.
CHUNK_ROWS = 50

CSV_COLUMNS = ("vm", "name", "created", "age_days", "size", "class", "reasons", "datastore")


def export_csv(report: SnapshotReport, path: str | Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for s in report.snapshots:
            row = snapshot_json(s)
            writer.writerow([s.vm, row["name"], row["created"], row["age_days"], row["size"], row["class"],
                             "; ".join(s.reasons), s.datastore])


def export_html(report: SnapshotReport, path: str | Path) -> None:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(s.vm)}</td><td>{e(s.name)}</td><td>{e(s.snapshot.created.isoformat())}</td>"
        f"<td>{s.age_days:.1f}</td><td data-bytes='{s.size}'>{e(format_size(s.size))}</td>"
        f"<td>{e(', '.join(str(c) for c in s.classes))}</td><td>{e('; '.join(s.reasons))}</td></tr>"
        for s in report.snapshots
    )
    stores = "".join(
        f"<tr><td>{e(d.datastore.name)}</td><td>{e(format_size(d.datastore.capacity))}</td>"
        f"<td>{e(format_size(d.datastore.free))}</td><td>{e(format_size(d.delta_bytes))}</td></tr>"
        for d in report.datastores
    )
    orphans = "".join(
        f"<tr><td>{e(o.path)}</td><td>{e(format_size(o.size))}</td>"
        f"<td>{e(o.modified.isoformat() if o.modified else '')}</td></tr>" for o in report.orphans
    )
    doc = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Snapshot report</title></head><body>"
        f"<h1>Snapshot report</h1><p>Scanned {e(report.scan.scanned_at.isoformat())}</p>"
        "<h2>Snapshots</h2><table border='1'><tr><th>VM</th><th>Snapshot</th><th>Created</th><th>Age (days)</th>"
        f"<th>Size</th><th>Class</th><th>Reasons</th></tr>{rows}</table>"
        "<h2>Datastores</h2><table border='1'><tr><th>Datastore</th><th>Capacity</th><th>Free</th>"
        f"<th>Snapshot data</th></tr>{stores}</table>"
        f"<h2>Orphaned files</h2><table border='1'><tr><th>Path</th><th>Size</th><th>Modified</th></tr>{orphans}"
        "</table></body></html>"
    )
    Path(path).write_text(doc, encoding="utf-8")


class PageSettings(Protocol):
    """The settings the page reads (``app.settings.AppSettings``)."""

    @property
    def role(self) -> Role: ...
    @property
    def snapshot_max_age_days(self) -> float: ...
    @property
    def snapshot_cleanup_min_age_hours(self) -> float: ...


class Scanner(Protocol):
    async def run(self, *, orphans: bool = True) -> SnapshotReport: ...


class SnapshotsPage(QWidget):
    """Constructed with the settings and the scan / cleanup / orphan use cases (the composition root's)."""

    _connected = True  # vCenter reachable (the main window calls set_connected)

    def __init__(self, settings: PageSettings, scanner: Scanner, cleanup: CleanupPort, orphans: Any,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.scanner = scanner
        self.cleanup = cleanup
        self.orphans = orphans
        self.report: SnapshotReport | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

        self.scan_button = QPushButton("&Scan")
        self.scan_button.setAccessibleName("Scan snapshots")
        self.cleanup_button = QPushButton("&Clean up…")
        self.cleanup_button.setAccessibleName("Open the cleanup wizard")
        self.orphans_button = QPushButton("&Orphaned files…")
        self.orphans_button.setAccessibleName("Move orphaned snapshot files to the quarantine")
        self.csv_button = QPushButton("E&xport CSV…")
        self.html_button = QPushButton("Export HT&ML…")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by VM or snapshot name")
        self.filter.setAccessibleName("Filter")
        self.class_filter = QComboBox()
        self.class_filter.setAccessibleName("Class filter")
        self.class_filter.addItem("All classes", None)
        for klass in SnapshotClass:
            self.class_filter.addItem(klass.value, klass)
        self.status = QLabel("Not scanned yet")

        self.model = SnapshotTableModel(self)
        self.proxy = SnapshotFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setAccessibleName("Snapshots")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_VM, Qt.SortOrder.AscendingOrder)  # Qt's default indicator is descending
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)  # one line per snapshot; the full reasons are in the tooltip
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.horizontalHeader().setStretchLastSection(True)
        # Column widths from the first rows only (Qt reads 1,000 by default: 8,000 data() calls per fit).
        self.table.horizontalHeader().setResizeContentsPrecision(CHUNK_ROWS)
        self.chart = DeltaChart()
        self.tree = SnapshotTree()

        bar = QHBoxLayout()
        for w in (self.scan_button, self.cleanup_button, self.orphans_button, self.csv_button, self.html_button,
                  self.filter, self.class_filter):
            bar.addWidget(w)
        # The table gets the full width (eight columns, the reasons last); below it, the selected VM's
        # tree next to the per-datastore chart.
        below = QSplitter(Qt.Orientation.Horizontal)
        below.addWidget(self.tree)
        below.addWidget(self.chart)
        below.setSizes([520, 420])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(below)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([360, 260])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

        self.scan_button.clicked.connect(self.start_scan)
        self.cleanup_button.clicked.connect(self.open_wizard)
        self.orphans_button.clicked.connect(self.open_orphan_wizard)
        self.csv_button.clicked.connect(lambda: self._export("csv"))
        self.html_button.clicked.connect(lambda: self._export("html"))
        self.filter.textChanged.connect(self.proxy.set_text)
        self.class_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_class(self.class_filter.currentData()))
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self._update_buttons()

    # -- state ------------------------------------------------------------------------------------
    def is_admin(self) -> bool:
        return bool(self.settings.role == Role.ADMIN)

    def set_connected(self, connected: bool) -> None:
        """The window says when vCenter comes and goes: scanning and removing need it; exports do not."""
        self._connected = connected
        self.scan_button.setEnabled(connected)
        self.scan_button.setToolTip("" if connected else "Connect to vCenter first: File › Connect… (Ctrl+K)")
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.report is not None and self._connected
        self.cleanup_button.setEnabled(has and self.is_admin())
        self.cleanup_button.setToolTip("" if self.is_admin() else "Only a vmrestore admin may remove snapshots")
        count = len(self.report.orphans) if self.report is not None else 0
        self.orphans_button.setText(f"&Orphaned files ({count})…" if count else "&Orphaned files…")
        self.orphans_button.setEnabled(bool(count) and self.is_admin() and self._connected)
        self.orphans_button.setToolTip("" if self.is_admin() else "Only a vmrestore admin may move datastore files")
        self.csv_button.setEnabled(self.report is not None)
        self.html_button.setEnabled(self.report is not None)

    def set_report(self, report: SnapshotReport) -> None:
        """Show ``report`` at once (a few rows: tests, exports); a scan's result goes through ``show_report``."""
        self.report = report
        self.model.set_report(report)
        self._fit_columns()
        self._show_summary(report)

    async def show_report(self, report: SnapshotReport) -> None:
        """Show a scan's result without stalling the window (issue 13 §5: a 10,000-VM scan froze it for
        seconds): the rows' texts and sort keys are built off the Qt thread, then reach the model
        ``CHUNK_ROWS`` at a time with the event loop running in between, and the columns are fitted to the
        first chunk only."""
        rows = await call_io(snapshot_rows, report)
        self.report = report
        self.model.clear()
        for start in range(0, len(rows), CHUNK_ROWS):
            self.model.append_rows(rows[start:start + CHUNK_ROWS])
            if start == 0:
                self._fit_columns()
            await asyncio.sleep(0)
        self._show_summary(report)

    def _fit_columns(self) -> None:
        self.table.resizeColumnsToContents()
        for col in range(self.model.columnCount()):
            self.table.setColumnWidth(col, min(self.table.columnWidth(col), 240))

    def _show_summary(self, report: SnapshotReport) -> None:
        self.chart.set_report(report)
        self.tree.show_vm(None)
        total = sum(d.delta_bytes for d in report.datastores)
        self.status.setText(f"{len(report.snapshots)} snapshot(s) on {len(report.vms)} VM(s), "
                            f"{format_size(total)} of snapshot data, {len(report.orphans)} orphaned file(s)")
        self._update_buttons()

    def _row_changed(self, current: Any, _previous: Any) -> None:
        s = self.proxy.data(current, RowRole) if current.isValid() else None
        if s is None or self.report is None:
            self.tree.show_vm(None)
            return
        self.tree.show_vm(next((v for v in self.report.vms if v.vm.moref == s.vm_moref), None))

    # -- actions ----------------------------------------------------------------------------------
    def start_scan(self) -> None:
        self.scan_button.setEnabled(False)
        self.status.setText("Scanning…")
        task = asyncio.ensure_future(self._scan())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _scan(self) -> None:
        try:
            report = await self.scanner.run()
        except Exception as exc:  # errors are shown, never raised into Qt
            self.status.setText(f"The scan failed: {describe(exc).text}")
        else:
            await self.show_report(report)
        finally:
            self.scan_button.setEnabled(self._connected)

    def open_wizard(self) -> CleanupWizard | None:
        if self.report is None or not self.is_admin():
            return None
        wizard = CleanupWizard(self.cleanup, self.report, parent=self,
                               default_age_days=float(self.settings.snapshot_max_age_days),
                               min_age_hours=float(self.settings.snapshot_cleanup_min_age_hours))
        wizard.finished.connect(lambda _r: self.start_scan())
        wizard.open()
        return wizard

    def open_orphan_wizard(self) -> OrphanWizard | None:
        if self.report is None or not self.report.orphans or not self.is_admin():
            return None
        wizard = OrphanWizard(self.orphans, self.report, self)
        wizard.finished.connect(lambda _r: self.start_scan() if wizard.outcome is not None else None)
        wizard.open()
        return wizard

    def _export(self, kind: str) -> None:
        if self.report is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, f"Export {kind.upper()}", f"snapshots.{kind}",
                                              f"{kind.upper()} (*.{kind})")
        if path:
            (export_csv if kind == "csv" else export_html)(self.report, path)
