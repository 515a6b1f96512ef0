"""Turn the parsed FILE records into catalog rows: build folder paths from parent references, once the pass
is done.

A parent reference whose sequence number no longer matches (the directory was deleted and its record
reused), a missing or non-directory parent, or a cycle makes the name an *orphan*: it is skipped and
counted, like names below the metafiles (records < 24 and the ``$Extend`` tree), so the result is exactly
what :meth:`NtfsFileSystem.walk` lists.

Rows are keyed by the parent's file reference, so a path string is built once per folder, not once per
file, and times stay integer microseconds; ``FileEntry`` values (``entries_of``) are made from those rows
only when a caller wants them. ``_emit`` is the hot loop here: keep function calls out of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from vmrestore.disks.ntfs_mft_format import (
    _EPOCH,
    _IS_DIR,
    _NS_DOS,
    _REF_MASK,
    _TAG_UNREADABLE,
    FIRST_USER_RECORD,
    ROOT_RECORD,
    TAG_MOUNT_POINT,
    TAG_SYMLINK,
    _Name,
    _Record,
    filetime_us,
)
from vmrestore.listing import TYPE_CODES, Row
from vmrestore.model import FileEntry, FileType

_KINDS = {code: kind for kind, code in TYPE_CODES.items()}


def entries_of(rows: Iterable[Row], folders: dict[Any, str]) -> Iterator[FileEntry]:
    """Catalog rows back into ``FileEntry`` values (browsing, tests, stores without the fast path)."""
    times: dict[int | None, datetime | None] = {None: None}
    kinds = _KINDS
    for folder, name, code, size, mtime_us, target in rows:
        base = folders.get(folder)
        if base is None:
            continue
        mtime = times.get(mtime_us, _MISSING)
        if mtime is _MISSING:
            assert mtime_us is not None
            mtime = times[mtime_us] = _EPOCH + timedelta(microseconds=mtime_us)
        path = f"/{name}" if base == "/" else f"{base}/{name}"
        yield FileEntry(path, name, kinds[code], size, mtime, target)


def _emit(records: dict[int, _Record], numbers: Iterable[int], paths: _Paths, out: list[Row]) -> tuple[int, int]:
    """Append the rows of ``numbers`` (records in ``records``) to ``out``; returns (hidden, orphans) names."""
    append = out.append
    memo = paths.memo
    resolve = paths.resolve
    micros: dict[int, int | None] = {}
    hidden = orphans = 0
    code_file, code_dir, code_link = TYPE_CODES[FileType.FILE], TYPE_CODES[FileType.DIR], TYPE_CODES[FileType.SYMLINK]
    for number in numbers:
        rec = records.get(number)
        if rec is None:
            continue
        _seq, flags, size, raw_mtime, tag, target, names = rec
        if number < FIRST_USER_RECORD:
            if number != ROOT_RECORD:
                hidden += len(names)
            continue
        if not names:
            continue
        mtime_us = micros.get(raw_mtime, _NO_US)
        if mtime_us == _NO_US:
            mtime_us = micros[raw_mtime] = filetime_us(raw_mtime)
        if tag:
            if tag in (TAG_SYMLINK, TAG_MOUNT_POINT, _TAG_UNREADABLE):
                code, size, link = code_link, 0, target or ""
            elif flags & _IS_DIR:
                code, size, link = code_dir, 0, None
            else:
                code, size, link = code_file, size if size > 0 else 0, None
        elif flags & _IS_DIR:
            code, size, link = code_dir, 0, None
        else:
            code, size, link = code_file, size if size > 0 else 0, None
        if len(names) == 1:
            parent_ref, name, _ns = names[0]
            base = memo.get(parent_ref)
            if base is None:
                base = resolve(parent_ref)
            if isinstance(base, str):
                append((parent_ref, name, code, size, mtime_us, link))
            elif base is _HIDDEN:
                hidden += 1
            else:
                orphans += 1
            continue
        seen: set[tuple[int, str]] = set()
        for parent_ref, name, _ns in names:
            key = (parent_ref & _REF_MASK, name)
            if key in seen:
                continue
            seen.add(key)
            base = memo.get(parent_ref)
            if base is None:
                base = resolve(parent_ref)
            if isinstance(base, str):
                append((parent_ref, name, code, size, mtime_us, link))
            elif base is _HIDDEN:
                hidden += 1
            else:
                orphans += 1
    return hidden, orphans


_MISSING: Any = object()
_NO_US = -(1 << 80)  # not a microsecond value: "not converted yet"


class _Unreachable:
    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<{self.why}>"


_HIDDEN = _Unreachable("hidden")
_ORPHAN = _Unreachable("orphan")


class _Paths:
    """Directory paths by file reference, memoised; broken chains and cycles resolve to ``_ORPHAN``."""

    def __init__(self, records: dict[int, _Record], root_ref: int) -> None:
        self.records = records
        self.memo: dict[int, str | _Unreachable] = {root_ref: ""}

    def folders(self) -> dict[int, str]:
        """Every folder resolved so far: file reference -> path ("/" for the root)."""
        return {ref: path or "/" for ref, path in self.memo.items() if isinstance(path, str)}

    def _dir_name(self, rec: _Record) -> _Name | None:
        if rec[4] or not rec[1] & _IS_DIR:  # a file, or a junction/symlink: walk() never descends into it
            return None
        for name in rec[6]:
            if name[2] != _NS_DOS:
                return name
        return None

    def resolve(self, ref: int) -> str | _Unreachable:
        memo = self.memo
        chain: list[tuple[int, str]] = []
        on_chain: set[int] = set()
        cur = ref
        result: str | _Unreachable
        while True:
            known = memo.get(cur)
            if known is not None:
                result = known
                break
            number = cur & _REF_MASK
            if number < FIRST_USER_RECORD:
                result = _HIDDEN if number != ROOT_RECORD else _ORPHAN  # the root with a stale sequence
                break
            rec = self.records.get(number)
            named = None if rec is None or rec[0] != cur >> 48 else self._dir_name(rec)
            if named is None or cur in on_chain:
                result = _ORPHAN
                break
            chain.append((cur, named[1]))
            on_chain.add(cur)
            cur = named[0]
        for link, name in reversed(chain):
            if isinstance(result, str):
                result = f"{result}/{name}"
            memo[link] = result
        if not chain:
            memo[ref] = result
        return result
