"""Turn a guest path into a path that is safe to create on the operator's Windows workstation.

A backup holds whatever the guest held, and a Linux guest may name a file ``..\\..\\evil.txt``, ``CON``,
``a:b`` (an NTFS alternate data stream on Windows!) or ``trailing.`` (Windows silently drops the dot and
the file lands on another name). Every such name is rewritten to a harmless one *and reported*, so the
operator knows which restored file came from which guest file. Pure functions, no I/O, same answer on
every OS, so what the CLI plans is what Windows gets.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_COMPONENT = 255  # NTFS: 255 UTF-16 units; ext4 etc.: 255 bytes. We honour both.
MAX_PATH = 260  # classic Win32 limit; longer paths need the \\?\ prefix
_RESERVED_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED_BASE = re.compile(r"^(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[0-9¹²³]|LPT[0-9¹²³])$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SafePath:
    """A relative path (components joined by '/') and what had to change to get it."""

    parts: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def path(self) -> str:
        return "/".join(self.parts)

    @property
    def renamed(self) -> bool:
        return bool(self.notes)


def _fits(name: str) -> bool:
    return len(name.encode("utf-16-le")) // 2 <= MAX_COMPONENT and len(name.encode("utf-8")) <= MAX_COMPONENT


def _shorten(name: str) -> str:
    """Cut an over-long name, keep its extension, add a hash so two long siblings stay distinct."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    suffix = f"~{digest}" + (f".{ext}" if ext else "")
    while stem and not _fits(stem + suffix):
        stem = stem[: max(0, len(stem) - max(1, len(stem) // 8))]
    return stem + suffix


def safe_component(name: str) -> tuple[str, list[str]]:
    """One guest name → a name Windows will store exactly as given, plus notes on what changed."""
    notes: list[str] = []
    out = name
    # Undecodable bytes (surrogate escapes from the file-system reader) cannot be written on Windows.
    cleaned = "".join("_" if 0xD800 <= ord(c) <= 0xDFFF else c for c in out)
    if cleaned != out:
        notes.append("undecodable characters replaced")
        out = cleaned
    cleaned = _RESERVED_CHARS.sub("_", out)
    if cleaned != out:
        notes.append('characters not allowed on Windows (<>:"/\\|?* or control) replaced')
        out = cleaned
    stripped = out.rstrip(". ")
    if stripped != out:
        # Windows drops trailing dots/spaces (so "a." would become "a"); '.' and '..' end up here too.
        out = stripped + "_" * (len(out) - len(stripped))
        notes.append("trailing dots or spaces replaced")
    if not out:
        out = "_"
        notes.append("empty name replaced")
    base = out.split(".", 1)[0].rstrip(" ")
    if _RESERVED_BASE.match(base):
        out = "_" + out
        notes.append(f"reserved device name {base.upper()} prefixed")
    if not _fits(out):
        out = _shorten(out)
        notes.append("name longer than 255 characters shortened")
    return out, notes


def safe_relative_path(guest_path: str) -> SafePath:
    """A guest path ('/'-separated, from the volume root) → a safe relative path below any target.

    Leading '/' (the volume root) is dropped: restored paths are always relative to the target folder.
    A component is never allowed to climb ('..' becomes '__'), so the result cannot leave the target.
    """
    parts: list[str] = []
    notes: list[str] = []
    for component in guest_path.split("/"):
        if component == "":
            continue  # the root, or '//' (UNC-looking guest paths) collapse
        safe, why = safe_component(component)
        parts.append(safe)
        notes.extend(f"{component!r} → {safe!r}: {reason}" for reason in why)
    return SafePath(tuple(parts), tuple(notes))


def needs_long_path_prefix(path: str) -> bool:
    return len(path) >= MAX_PATH


def windows_long_path(path: str) -> str:
    r"""Add the ``\\?\`` (or ``\\?\UNC\``) prefix to an absolute Windows path that is too long for Win32."""
    if not needs_long_path_prefix(path) or path.startswith("\\\\?\\"):
        return path
    path = path.replace("/", "\\")
    if path.startswith("\\\\"):
        return "\\\\?\\UNC\\" + path[2:]
    return "\\\\?\\" + path
