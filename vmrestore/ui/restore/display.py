"""How restore-point values read on screen: sizes, statuses, guest paths."""

from __future__ import annotations

from PySide6.QtCore import QLocale

from vmrestore.model import FileEntry, FileType, RestorePoint

STATUS_WORDS = {
    "ok": "OK",
    "warn": "Completed with warnings",
    "error": "Failed",
    "unknown": "Unknown (no status file)",
    "compressed": "Compressed",
}


def data_size(value: int | None) -> str:
    """``8.00 MB`` the way Windows Explorer counts (1024-based); empty for unknown."""
    if value is None:
        return ""
    return QLocale().formattedDataSize(int(value), 2, QLocale.DataSizeFormat.DataSizeTraditionalFormat)


def point_status_text(point: RestorePoint) -> str:
    words = STATUS_WORDS.get(point.status, point.status)
    if point.reason and (point.status in ("error", "compressed", "warn") or not point.browsable):
        return f"{words}: {point.reason}"
    return words


def type_text(entry: FileEntry) -> str:
    if entry.type is FileType.DIR:
        return "Folder"
    if entry.type is FileType.SYMLINK:
        return f"Link → {entry.target}" if entry.target else "Link"
    stem, dot, ext = entry.name.rpartition(".")
    return f"{ext.upper()} file" if dot and stem and ext else "File"


def volume_path(disk_key: str, volume_index: int, path: str) -> str:
    """The restore-point path of a file in a volume: ``/disk0/vol1/Users/alice/a.txt``."""
    return f"/{disk_key}/vol{volume_index}{'' if path == '/' else path}"
