"""Searching the PostgreSQL catalog by file name: the first page of hits, and how many there are.

The same walk as ``sqlite_search`` (matching names, then their paths and version rows), with PostgreSQL's
name indexes (``pg_schema``): the ``pg_trgm`` GIN index answers a substring or a glob with a literal run of
three characters or more, the ``text_pattern_ops`` b-tree a glob's literal start (read from the anchored
regex), and the grams GIN index
(every character and pair of characters of a name) a pattern shorter than a trigram.

Statements are never prepared on the server: after five runs PostgreSQL may keep a generic plan, which
cannot see the pattern or the lineages and walks the trigram index blind (measured: 7 ms with the
pattern's own plan, 45-107 ms with the generic one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from vmrestore.catalog.pattern import glob_to_regex, like_substring
from vmrestore.catalog.rows import FAR_FUTURE, FAR_PAST, PATH_BUDGET, page_points, search_hits, search_terms
from vmrestore.catalog.sqlite_indexing import from_us
from vmrestore.catalog.store import HitCount, SearchHit


@dataclass(frozen=True, slots=True)
class _Plan:
    name_where: str  # on n (names)
    version_where: str  # the scope on v (versions)
    params: dict[str, Any]
    scoped: bool  # a VM or a date window was asked


#: The search walks from the matching names to their paths and versions, one index lookup each, and stops
#: at a page or a cap. PostgreSQL's estimate of how many names a pattern matches can be far off (346,000
#: for "*.tmp", which has 3,902 in the first 65,000 names); it then merges the whole paths_name index
#: (630,000 entries, 4.3 s for a count). Within the search's own transaction: nested loops only, no
#: parallel workers (a LIMITed walk gains nothing from them and a shared server loses two cores), no JIT
#: (it compiled for 51 ms to save nothing on a 0.4 s scan of short-pattern candidates).
_WALK = ("SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), "
         "set_config('max_parallel_workers_per_gather', '0', true), set_config('jit', 'off', true)")


def _plan(conn: psycopg.Connection[Any], pattern: str, vm: str | None, since: datetime | None,
          until: datetime | None) -> _Plan | None:
    """None when nothing can match (an unknown VM, no indexed point in the window)."""
    conn.execute(_WALK)
    pat, lo, hi = search_terms(pattern, since, until)
    windowed = (lo, hi) != (FAR_PAST, FAR_FUTURE)
    params: dict[str, Any] = {"vm": vm, "lo": lo, "hi": hi, "like": like_substring(pat.needle),
                              "regex": glob_to_regex(pat.text.lower()),
                              "grams": list(pat.gram_terms)}
    name_where = "n.lname ~ %(regex)s" if pat.is_glob else "n.lname LIKE %(like)s"
    # (A glob's literal start needs no test of its own: PostgreSQL reads it from the anchored regex and
    # looks it up in the text_pattern_ops b-tree.)
    if not pat.trigram_terms and not pat.prefix and pat.gram_terms:
        # The grams GIN index (exact for "contains", so never rechecked), and beside it the same test as a
        # cheap filter that pg_trgm cannot take ("|| ''"): when the LIMIT makes PostgreSQL walk the names
        # instead, the filter answers and the grams function (~70 us) runs only on names that match. (A
        # pg_trgm match beside the grams was rechecked with the function on every candidate: 6 s for
        # ".c"; pg_trgm offered "*.c" 244,335 candidates; the function alone on a walk cost 2.2 s for "_9".)
        test = "(n.lname || '') ~ %(regex)s" if pat.is_glob else "(n.lname || '') LIKE %(like)s"
        name_where = f"{test} AND vmrestore_name_grams(n.lname) @> %(grams)s::text[]"
    version_where = ""
    if vm is not None or windowed:
        lineages = [r[0] for r in conn.execute(
            "SELECT l.id FROM lineages l WHERE (%(vm)s::text IS NULL OR l.vm = %(vm)s) AND EXISTS (SELECT 1 FROM "
            "indexed_volumes iv WHERE iv.lineage_id = l.id AND iv.seq BETWEEN %(lo)s AND %(hi)s)", params)]
        if not lineages:
            return None
        version_where = " AND v.lineage_id = ANY(%(lineages)s)"
        params["lineages"] = lineages
    # A version is valid at every indexed point of its lineage with a seq in [first_seq, last_seq], and both
    # ends are such points. So it holds an indexed point inside the window exactly when it overlaps the
    # window and its lineage has an indexed point in the window (the lineages above): no lookup per row.
    # (No VM and no window: every version row is in scope; the count then reads only versions_path.)
    if windowed:
        version_where += " AND v.last_seq >= %(lo)s AND v.first_seq <= %(hi)s"
    return _Plan(name_where, version_where, params, vm is not None or windowed)


def count_hits(conn: psycopg.Connection[Any], pattern: str, vm: str | None, since: datetime | None,
               until: datetime | None, cap: int) -> HitCount:
    plan = _plan(conn, pattern, vm, since, until)
    if plan is None:
        return HitCount(0, False)
    params = {**plan.params, "cap": cap + 1, "budget": PATH_BUDGET}
    if not plan.scoped:  # every path of a matching name has a version in scope: stop at cap + 1 hits
        row = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM names n JOIN paths p ON p.name_id = n.id "
            f"JOIN versions v ON v.path_id = p.id WHERE {plan.name_where} LIMIT %(cap)s) c",
            params, prepare=False,
        ).fetchone()
        found = int(row[0]) if row else 0
        return HitCount(min(found, cap), found > cap)
    row = conn.execute(
        "WITH cand AS MATERIALIZED (SELECT p.id AS path_id FROM names n JOIN paths p ON p.name_id = n.id "
        f"WHERE {plan.name_where} LIMIT %(budget)s) "
        "SELECT (SELECT count(*) FROM cand), (SELECT count(*) FROM (SELECT 1 FROM cand c JOIN versions v "
        f"ON v.path_id = c.path_id WHERE true{plan.version_where} LIMIT %(cap)s) x)",
        params, prepare=False,
    ).fetchone()
    paths, found = (int(row[0]), int(row[1])) if row else (0, 0)
    return HitCount(min(found, cap), found > cap or paths >= PATH_BUDGET)


def search(conn: psycopg.Connection[Any], pattern: str, vm: str | None, since: datetime | None,
           until: datetime | None, limit: int) -> list[SearchHit]:
    plan = _plan(conn, pattern, vm, since, until)
    if plan is None:
        return []
    rows = conn.execute(
        "SELECT * FROM (SELECT v.type, v.size, v.mtime_us, l.vm, l.disk_key, l.volume_index, d.path, n.name, "
        "v.lineage_id, "
        "(SELECT max(iv.seq) FROM indexed_volumes iv WHERE iv.lineage_id = v.lineage_id "
        " AND iv.seq BETWEEN greatest(v.first_seq, %(lo)s) AND least(v.last_seq, %(hi)s)) AS hit_seq, "
        "(SELECT min(iv.seq) FROM indexed_volumes iv WHERE iv.lineage_id = v.lineage_id "
        " AND iv.seq BETWEEN v.first_seq AND v.last_seq) AS first_hit "
        "FROM names n JOIN paths p ON p.name_id = n.id JOIN versions v ON v.path_id = p.id "
        "JOIN lineages l ON l.id = v.lineage_id JOIN dirs d ON d.id = p.dir_id "
        f"WHERE {plan.name_where}{plan.version_where}) hit WHERE hit_seq IS NOT NULL LIMIT %(limit)s",
        {**plan.params, "limit": limit}, prepare=False,
    ).fetchall()
    # The restore point of every (lineage, seq) the page names, in one round trip (a query per hit cost
    # up to 200 round trips: most of a warm first page's time).
    pairs = page_points(rows)
    at: dict[tuple[int, int], tuple[str, datetime]] = {}
    if pairs:
        for lineage, seq, pid, created_us in conn.execute(
            "SELECT iv.lineage_id, iv.seq, p.id, p.created_us FROM unnest(%s::bigint[], %s::bigint[]) AS w(l, s) "
            "JOIN indexed_volumes iv ON iv.lineage_id = w.l AND iv.seq = w.s JOIN points p ON p.id = iv.point_id",
            ([x[0] for x in pairs], [x[1] for x in pairs]), prepare=False,
        ):
            created = from_us(created_us)
            assert created is not None
            at[(lineage, seq)] = (pid, created)

    return search_hits(rows, at)
