"""What both catalog stores (SQLite and PostgreSQL) do with a query before and after their own SQL.

The two backends differ only in SQL; how a search's pattern and date window are read, and how a folder's
rows become sorted ``FileEntry`` values, is one rule, so the backends cannot drift apart on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from vmrestore.catalog.pattern import NamePattern, compile_pattern
from vmrestore.catalog.sqlite_indexing import from_us, to_us
from vmrestore.catalog.sqlite_schema import TYPE_CODES
from vmrestore.catalog.store import SearchHit
from vmrestore.errors import InvalidInput
from vmrestore.model import FileEntry, FileType

TYPES_BY_CODE = {code: FileType(name) for name, code in TYPE_CODES.items()}
FAR_PAST, FAR_FUTURE = -(2**62), 2**62
#: A count with a VM or date filter walks the matching names' paths and keeps those with a version in
#: scope; it looks at no more than this many paths (then the count is a lower bound too), because a broad
#: pattern matches paths of every VM and only a few of them may be this VM's.
PATH_BUDGET = 5_000


def search_terms(pattern: str, since: datetime | None, until: datetime | None) -> tuple[NamePattern, int, int]:
    """The compiled name pattern and the creation window of points, in whole seconds (``until`` rounded up)."""
    try:
        pat = compile_pattern(pattern)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    since_us, until_us = to_us(since), to_us(until)
    lo = since_us // 1_000_000 if since_us is not None else FAR_PAST
    hi = -(-until_us // 1_000_000) if until_us is not None else FAR_FUTURE
    return pat, lo, hi


def dir_listing(directory: str, rows: Iterable[Sequence[Any]]) -> list[FileEntry]:
    """Rows of ``(name, type code, size, mtime_us, target)`` in ``directory``: directories first, then by name."""
    base = directory.rstrip("/")
    out = [FileEntry(path=f"{base}/{r[0]}", name=r[0], type=TYPES_BY_CODE[r[1]], size=r[2] or 0,
                     mtime=from_us(r[3]), target=r[4]) for r in rows]
    out.sort(key=lambda e: (e.type is not FileType.DIR, e.name.lower(), e.name))
    return out


def page_points(rows: Sequence[Sequence[Any]]) -> list[tuple[int, int]]:
    """The (lineage, seq) pairs a page of search rows names: where each hit was seen, and first seen."""
    return sorted({(r[8], r[9]) for r in rows} | {(r[8], r[10]) for r in rows})


def search_hits(rows: Sequence[Sequence[Any]], at: dict[tuple[int, int], tuple[str, datetime]]) -> list[SearchHit]:
    """A page of search rows (both backends select the same columns) as hits, newest point first.

    ``at`` maps every pair of :func:`page_points` to its restore point's id and creation time, read by
    each backend in one query of its own SQL.
    """
    hits = []
    for typ, size, mtime_us, hvm, disk_key, volume_index, dir_path, name, lineage, hit_seq, first in rows:
        point_id, created = at[(lineage, hit_seq)]
        hits.append(SearchHit(
            point_id=point_id, vm=hvm, created=created, disk_key=disk_key, volume_index=volume_index,
            path=f"{dir_path.rstrip('/')}/{name}", name=name, type=TYPES_BY_CODE[typ], size=size,
            mtime=from_us(mtime_us), first_seen=at[(lineage, first)][1], last_seen=created,
        ))
    hits.sort(key=lambda h: (-h.created.timestamp(), h.path))
    return hits
