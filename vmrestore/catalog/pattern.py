"""Turning an operator's search text into an index-friendly name match.

Helpdesk staff type ``Q3-report`` or ``*.xlsx``. Both are matched case-insensitively against the
*file name* (not the directory). The store narrows candidates with a trigram index, which needs a
literal run of at least three characters; the exact test then runs on the lower-cased name. This
module is pure so a PostgreSQL store (``pg_trgm``) can reuse the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass

GLOB_CHARS = frozenset("*?[")
TRIGRAM = 3


@dataclass(frozen=True, slots=True)
class NamePattern:
    text: str  # as typed
    is_glob: bool
    needle: str  # lower-cased substring (substring search) or lower-cased glob in SQLite GLOB syntax
    trigram_terms: tuple[str, ...]  # literal runs of >= 3 chars every match must contain
    prefix: str  # literal start every match has ("" when the pattern starts with a wildcard)
    gram_terms: tuple[str, ...] = ()  # literal runs of 1-2 chars every match must contain (below a trigram)


def _glob_literals(pattern: str) -> tuple[list[str], str]:
    """Literal runs between wildcards, and the literal prefix before the first wildcard."""
    runs: list[str] = []
    current: list[str] = []
    prefix: str | None = None
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch in "*?[":
            if prefix is None:
                prefix = "".join(current)
            runs.append("".join(current))
            current = []
            if ch == "[":
                close = pattern.find("]", i + 2)  # "[]]" and "[!]]" put "]" inside the class
                i = close if close != -1 else len(pattern)
        else:
            current.append(ch)
        i += 1
    runs.append("".join(current))
    return [r for r in runs if r], prefix if prefix is not None else "".join(current)


def to_sqlite_glob(pattern: str) -> str:
    """fnmatch-style negation ``[!a]`` becomes SQLite's ``[^a]``; everything else is shared syntax."""
    return pattern.replace("[!", "[^")


_REGEX_SPECIAL = frozenset(".^$|()[]{}*+?\\")


def glob_to_regex(pattern: str) -> str:
    """An fnmatch-style glob as an anchored POSIX regular expression (PostgreSQL ``~``, which pg_trgm
    indexes). The same syntax as the SQLite translation: ``*``, ``?``, ``[abc]``, ``[!abc]``/``[^abc]``,
    a ``]`` first in a class is literal, and an unclosed ``[`` is a literal bracket."""
    out: list[str] = ["^"]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            j = i + 1
            negate = j < len(pattern) and pattern[j] in "!^"
            if negate:
                j += 1
            close = pattern.find("]", j + 1)  # "[]]" and "[!]]" put "]" inside the class
            if close == -1:
                out.append("\\[")
            else:
                members = pattern[j:close].replace("\\", "\\\\").replace("^", "\\^")
                if members.startswith("]"):
                    members = "\\]" + members[1:]
                out.append("[" + ("^" if negate else "") + members + "]")
                i = close
        else:
            out.append("\\" + ch if ch in _REGEX_SPECIAL else ch)
        i += 1
    out.append("$")
    return "".join(out)


def like_substring(needle: str) -> str:
    """``%needle%`` for SQL LIKE with ``\\``, ``%`` and ``_`` taken literally (PostgreSQL's default escape)."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def name_grams(lname: str) -> set[str]:
    """Every character and every pair of adjacent characters of a (lower-cased) name: what a pattern shorter
    than a trigram is looked up by (PostgreSQL's ``vmrestore_name_grams`` computes the same)."""
    out = set(lname)
    out.update(lname[i:i + 2] for i in range(len(lname) - 1))
    return out


def compile_pattern(text: str) -> NamePattern:
    """Raises ValueError for an empty pattern (it would list every file of every restore point)."""
    stripped = text.strip()
    if not stripped or set(stripped) <= {"*"}:
        raise ValueError("search pattern is empty")
    lowered = stripped.lower()
    if GLOB_CHARS & set(stripped):
        runs, prefix = _glob_literals(lowered)
        return NamePattern(
            text=stripped,
            is_glob=True,
            needle=to_sqlite_glob(lowered),
            trigram_terms=tuple(r for r in runs if len(r) >= TRIGRAM),
            prefix=prefix,
            gram_terms=tuple(r for r in runs if len(r) < TRIGRAM),
        )
    return NamePattern(
        text=stripped,
        is_glob=False,
        needle=lowered,
        trigram_terms=(lowered,) if len(lowered) >= TRIGRAM else (),
        prefix="",
        gram_terms=(lowered,) if len(lowered) < TRIGRAM else (),
    )


def fts_query(terms: tuple[str, ...]) -> str:
    """An FTS5 query every name holding all ``terms`` matches (with the trigram tokenizer: as substrings).

    A long term is asked for as three of its trigrams (first, middle, last) rather than as a phrase: a
    phrase loads and compares the positions of every trigram in it, and common ones (``202``, ``.da``)
    have hundreds of thousands (measured on 2.1 million names: 37 ms for a 25-character name as a phrase,
    8 ms as three trigrams). The candidates are a superset; the caller tests each name exactly.
    """
    parts: list[str] = []
    for t in terms:
        if len(t) <= 2 * TRIGRAM:
            parts.append(t)
        else:
            mid = (len(t) - TRIGRAM) // 2
            parts.extend(dict.fromkeys((t[:TRIGRAM], t[mid:mid + TRIGRAM], t[-TRIGRAM:])))
    return " AND ".join('"' + p.replace('"', '""') + '"' for p in parts)
