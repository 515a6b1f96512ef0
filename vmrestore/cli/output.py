"""Printing results: one JSON document on stdout with ``--json``, readable text otherwise.

Times are ISO 8601 with a UTC offset and sizes are integers (shared/CLI.md); progress and logs go to
stderr so a script can parse stdout.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from datetime import datetime
from pathlib import PurePath
from typing import Any

from vmrestore.model import format_size

_PLAIN = frozenset({str, int, float, bool, type(None)})  # exact types: an enum deriving from str is not plain


def to_jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:  # most values: checked first (a 40,000-VM scan has ~500,000 of them)
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.name.startswith("_")}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    # One write of the whole text: ``json.dump`` writes each token separately (~3x slower).
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# Byte counts: integers in JSON (CLI.md), the app's one size format (model.format_size) in text.
SIZE_COLUMNS = frozenset({"size", "capacity", "free", "delta_bytes", "bytes", "freed_bytes"})


def emit_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned text table for people at a terminal."""
    if not rows:
        print("(none)")
        return
    cells = [[_size_text(r.get(c)) if c in SIZE_COLUMNS else _text(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _size_text(value: Any) -> str:
    return format_size(value) if isinstance(value, int) and not isinstance(value, bool) else _text(value)


def _text(value: Any) -> str:
    value = to_jsonable(value)
    if value is None:
        return "-"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def note(message: str) -> None:
    """Progress and remarks for a person: always stderr."""
    print(message, file=sys.stderr, flush=True)
