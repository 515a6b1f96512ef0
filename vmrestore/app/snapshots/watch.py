"""The background snapshot watch's decisions: what is worth a notification, and never the same one twice.

Qt-free and clock-free: the UI's timer runs a scan every ``interval`` and hands each report to
:meth:`SnapshotWatch.evaluate`, which returns the alerts to show.

- A *leftover* snapshot (left behind by a backup tool) is alerted once, the first time a scan sees it
  (snapshots are told apart by moref, which vCenter never reuses). The first scan reports the leftovers
  that exist already, once, as one alert.
- A datastore whose snapshot data passes ``max_datastore_share`` of its capacity is alerted once when it
  crosses; it is re-armed only after it dropped below 90% of the threshold, so a share hovering around
  the line does not alert at every scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vmrestore.app.snapshots.types import ClassifiedSnapshot, SnapshotClass, SnapshotReport

REARM_FACTOR = 0.9
MAX_LINES = 5


class WatchSettings(Protocol):
    """The settings the watch reads (``app.settings.AppSettings``)."""

    @property
    def snapshot_watch_minutes(self) -> float: ...
    @property
    def snapshot_max_datastore_share(self) -> float: ...


def watch_interval_minutes(settings: WatchSettings) -> float:
    """Minutes between background scans; 0 (the default) means the watch is off."""
    try:
        value = float(settings.snapshot_watch_minutes or 0)
    except (TypeError, ValueError):  # a hand-edited settings file
        return 0.0
    return max(0.0, value)


@dataclass(frozen=True, slots=True)
class WatchAlert:
    kind: str  # "leftover" or "datastore_share"
    key: str  # snapshot moref or datastore name
    text: str


@dataclass(frozen=True, slots=True)
class Notification:
    title: str
    text: str
    alerts: tuple[WatchAlert, ...]


@dataclass
class SnapshotWatch:
    max_datastore_share: float
    _seen_leftovers: set[str] = field(default_factory=set)
    _over: set[str] = field(default_factory=set)  # datastores alerted and not re-armed yet

    @classmethod
    def from_settings(cls, settings: WatchSettings) -> SnapshotWatch:
        return cls(max_datastore_share=float(settings.snapshot_max_datastore_share))

    def evaluate(self, report: SnapshotReport) -> list[WatchAlert]:
        alerts = [WatchAlert("leftover", s.moref, _leftover_text(s)) for s in self._new_leftovers(report.snapshots)]
        for d in report.datastores:
            name = d.datastore.name
            if d.share > self.max_datastore_share and name not in self._over:
                self._over.add(name)
                alerts.append(WatchAlert(
                    "datastore_share", name,
                    f"Snapshots use {d.share:.1%} of datastore {name} (limit {self.max_datastore_share:.0%})"))
            elif d.share < self.max_datastore_share * REARM_FACTOR:
                self._over.discard(name)
        return alerts

    def _new_leftovers(self, snapshots: Iterable[ClassifiedSnapshot]) -> list[ClassifiedSnapshot]:
        new = [s for s in snapshots if SnapshotClass.LEFTOVER in s.classes and s.moref not in self._seen_leftovers]
        self._seen_leftovers.update(s.moref for s in new)
        return new


def _leftover_text(s: ClassifiedSnapshot) -> str:
    return f"Leftover snapshot '{s.name}' on {s.vm}"


def notification(alerts: Sequence[WatchAlert]) -> Notification | None:
    """One tray message for a scan's alerts (None when there are none)."""
    if not alerts:
        return None
    leftovers = [a for a in alerts if a.kind == "leftover"]
    shares = [a for a in alerts if a.kind == "datastore_share"]
    parts = []
    if leftovers:
        parts.append(f"{len(leftovers)} new leftover snapshot(s)")
    if shares:
        parts.append(f"{len(shares)} datastore(s) over the snapshot limit")
    lines = [a.text for a in [*shares, *leftovers]]
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], f"… and {len(lines) - MAX_LINES + 1} more"]
    return Notification("vmrestore: " + ", ".join(parts), "\n".join(lines), tuple(alerts))
