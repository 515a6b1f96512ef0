"""Small display helpers shared by the models: times in the operator's local zone, durations."""

from __future__ import annotations

from datetime import datetime


def local_time(value: datetime | None) -> str:
    """``2026-11-26 07:12:05`` in the local zone: unambiguous for admins reading logs side by side."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone()
    return value.strftime("%Y-%m-%d %H:%M:%S")


def iso_time(value: datetime | None) -> str:
    return value.astimezone().isoformat(timespec="seconds") if value is not None else ""


def duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
