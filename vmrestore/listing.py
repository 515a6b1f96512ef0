"""A volume's files in the catalog's own shape: how a fast reader hands a whole volume to the catalog.

``FileEntry`` costs, per file, a path string, a ``datetime`` and an object, which the catalog then takes
apart again; at 200,000 files that is most of an index run. A reader that can do better (the NTFS $MFT
scan) offers a :class:`ListingSource` instead: rows keyed by their folder (the folder's paths are resolved
once, not per file), times as integer microseconds, types as the catalog's codes.

It can also list only what changed since the previous restore point of the same volume: the catalog
keeps the opaque ``state`` the reader returned with that point's listing and hands it back; the reader
then returns ``complete=False``, rows for the names whose file changed, and the paths of the previous
point (``gone``) that must not be carried over as unchanged. Everything else is as it was.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from vmrestore.model import FileEntry, FileType

# Small integers instead of "file"/"dir"/"symlink": the catalog's versions table is the big one.
TYPE_CODES: dict[FileType, int] = {FileType.FILE: 0, FileType.DIR: 1, FileType.SYMLINK: 2}

# (folder key, name, type code, size, mtime as integer microseconds since 1970 UTC or None, link target)
Row = tuple[Hashable, str, int, int, int | None, str | None]


@dataclass(frozen=True, slots=True)
class VolumeListing:
    """``rows`` of the volume (or of what changed), ``folders`` mapping their folder keys to paths.

    A row whose folder key is not in ``folders`` is not listed. ``entries`` is the number of files in the
    point's volume (all of them, also when ``complete`` is False).
    """

    rows: list[Row]
    folders: dict[Hashable, str]  # folder key -> "/" or "/a/b"
    entries: int
    state_kind: str = ""
    state: bytes | None = None  # kept by the catalog with this point, handed back for the next one
    complete: bool = True
    gone: list[str] = field(default_factory=list)  # complete=False: previous paths that changed or went


@runtime_checkable
class ListingSource(Protocol):
    """A scan that can list a volume as a :class:`VolumeListing` (and, iterated, as ``FileEntry`` values)."""

    state_kind: str  # which reader and format made a state; a state of another kind is never handed back

    def listing(self, previous: bytes | None) -> VolumeListing:
        """The whole volume, or (with ``previous``, a state this source's kind made for the previous restore
        point of the same volume) only what changed; a state it cannot use gives the whole volume."""
        ...

    def __iter__(self) -> Iterator[FileEntry]: ...


def rows_of(entries: Iterable[FileEntry]) -> VolumeListing:
    """Any reader's ``FileEntry`` values as a complete listing keyed by folder path."""
    rows: list[Row] = []
    append = rows.append
    codes = TYPE_CODES
    micros: dict[datetime | None, int | None] = {None: None}
    missing = -(1 << 70)
    for e in entries:
        path = e.path.strip("/")
        if not path:
            continue  # the volume root itself has no name and no row
        folder, _, name = path.rpartition("/")
        mt = e.mtime
        us = micros.get(mt, missing)
        if us == missing:
            us = micros[mt] = to_us(mt)
        append(("/" + folder, name, codes[e.type], e.size, us, e.target))
    folders: dict[Hashable, str] = {f: f for f in {r[0] for r in rows}}  # type: ignore[misc]
    return VolumeListing(rows, folders, len(rows))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(dt: datetime | None) -> int | None:
    """Exact integer microseconds since 1970 UTC (naive means UTC in this code base; a float would round)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _US
