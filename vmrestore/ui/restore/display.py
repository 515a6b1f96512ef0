"""How restore-point values read on screen: sizes, statuses, guest paths."""

from __future__ import annotations

from vmrestore.model import FileEntry, FileType, RestorePoint

STATUS_WORDS = {
    "ok": "OK",
    "warn": "Completed with warnings",
    "error": "Failed",
    "unknown": "Unknown (no status file)",
    "compressed": "Compressed",
    "damaged": "Damaged",
}


def point_status_text(point: RestorePoint) -> str:
    words = STATUS_WORDS.get(point.status, point.status)
    if point.reason and (point.status in ("error", "compressed", "warn", "damaged") or not point.browsable):
        return f"{words}: {point.reason}"
    return words


def type_text(entry: FileEntry) -> str:
    if entry.type is FileType.DIR:
        return "Folder"
    if entry.type is FileType.SYMLINK:
        return f"Link → {entry.target}" if entry.target else "Link"
    stem, dot, ext = entry.name.rpartition(".")
    return f"{ext.upper()} file" if dot and stem and ext else "File"
