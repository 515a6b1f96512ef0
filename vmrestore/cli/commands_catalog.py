"""``catalog``, ``points`` and ``files``: the restore-point catalog from the command line (``repo``: commands_repo)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vmrestore.cli.context import CliContext
from vmrestore.cli.jobrun import run_job
from vmrestore.cli.output import emit_table, note
from vmrestore.model import ExtractResult, GuestPath, RestorePoint, format_size

if TYPE_CHECKING:
    from vmrestore.app.catalog_service import HitCount


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    catalog = sub.add_parser("catalog", help="the file index").add_subparsers(dest="verb", metavar="VERB")
    p = catalog.add_parser("index", parents=[common], help="find new restore points and index their files")
    p.add_argument("--repo", help="only this repository")
    p.set_defaults(func=catalog_index)
    p = catalog.add_parser("migrate", parents=[common],
                           help="copy this workstation's catalog into a shared PostgreSQL catalog")
    p.add_argument("--to", required=True, dest="target", metavar="postgresql://...",
                   help="the (empty) shared catalog database")
    p.set_defaults(func=catalog_migrate)
    p = catalog.add_parser("test", parents=[common],
                           help="try a shared PostgreSQL catalog URL (changes nothing); exit 1 when it fails")
    p.add_argument("url", metavar="postgresql://...")
    p.set_defaults(func=catalog_test, needs_sweep=False)

    points = sub.add_parser("points", help="restore points").add_subparsers(dest="verb", metavar="VERB")
    p = points.add_parser("list", parents=[common], help="restore points, newest first")
    p.add_argument("--vm")
    p.add_argument("--repo")
    p.set_defaults(func=points_list)

    files = sub.add_parser("files", help="guest files in restore points").add_subparsers(dest="verb", metavar="VERB")
    p = files.add_parser("ls", parents=[common], help="list a folder, e.g. /disk0/vol1/Users")
    p.add_argument("point")
    p.add_argument("path", nargs="?", default="/")
    p.set_defaults(func=files_ls)
    p = files.add_parser("search", parents=[common], help="substring or glob over every indexed point")
    p.add_argument("pattern")
    p.add_argument("--vm")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--since", type=_iso_time, help="only restore points from this time on (ISO 8601)")
    p.add_argument("--until", type=_iso_time, help="only restore points up to this time (ISO 8601)")
    p.add_argument("--with-total", action="store_true",
                   help='JSON: {"hits": [...], "total": N, "total_is_lower_bound": bool} instead of the list of hits')
    p.set_defaults(func=files_search)
    p = files.add_parser("versions", parents=[common], help="one path across the VM's restore points")
    p.add_argument("point")
    p.add_argument("path")
    p.set_defaults(func=files_versions)
    p = files.add_parser("extract", parents=[common], help="copy files out to this computer")
    p.add_argument("point")
    p.add_argument("paths", nargs="+")
    p.add_argument("--to", required=True, dest="target")
    p.add_argument("--conflict", choices=["keep_both", "overwrite", "skip"], default="keep_both")
    p.set_defaults(func=files_extract)
    from vmrestore.cli.commands_mount import register_files_push

    register_files_push(files, common)


def _iso_time(text: str) -> datetime:
    """ISO 8601; a time without an offset is taken as UTC (restore-point times are stored in UTC)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def catalog_index(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    catalog = ctx.services.catalog
    repos = [catalog.repository(args.repo)] if args.repo else [i.repo for i in catalog.repositories()]
    job = ctx.services.restore.index_job(repos)
    from vmrestore.app.catalog_index import report_json  # lazy: dissect loads only for commands that read disks

    report = report_json(run_job(ctx.services.scheduler, job, quiet=args.json))
    if not args.json:
        note(f"{report['points_added']} new restore points, {report['files_indexed']} files indexed")
        for error in report["errors"]:
            note(f"  problem: {error}")
    return report


def _point_json(p: RestorePoint) -> dict[str, Any]:
    return {
        "id": p.id, "vm": p.vm, "created": p.created, "repo": p.repo, "path": p.path, "status": p.status,
        "browsable": p.browsable, "size": p.size, "reason": p.reason,
        "disks": [{"file": d.file, "capacity": d.capacity, "format": d.format, "error": d.error,
                   "volumes": [{"index": v.index, "fs": v.fs, "label": v.label, "size": v.size,
                                "readable": v.readable, "reason": v.reason} for v in d.volumes]}
                  for d in p.disks],
    }


def catalog_migrate(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    job = ctx.services.catalog_migration.job(args.target)
    result = run_job(ctx.services.scheduler, job, quiet=args.json)
    if not args.json:
        note(f"{result.points} restore points and {result.entries} indexed entries copied to {result.target}")
    return {"points": result.points, "entries": result.entries}


def catalog_test(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    result = ctx.services.catalog_test.check(args.url)
    if not result.ok:
        ctx.exit_code = 1
    if not args.json:
        note(result.message)
    return {"ok": result.ok, "server": result.server, "version": result.version, "tls": result.tls,
            "message": result.message}


def points_list(ctx: CliContext, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = [_point_json(p) for p in ctx.services.catalog.points(vm=args.vm, repo=args.repo)]
    if not args.json:
        emit_table(rows, ["id", "vm", "created", "status", "size"])
    return rows


def files_ls(ctx: CliContext, args: argparse.Namespace) -> list[dict[str, Any]]:
    where = GuestPath.parse(args.path)
    rows = [{"path": str(where.child(e.name)), "name": e.name, "type": e.type, "size": e.size, "mtime": e.mtime}
            for e in ctx.services.catalog.list_dir(args.point, str(where))]
    if not args.json:
        emit_table(rows, ["type", "size", "mtime", "name"])
    return rows


def files_search(ctx: CliContext, args: argparse.Namespace) -> list[dict[str, Any]] | dict[str, Any]:
    catalog = ctx.services.catalog
    rows = [{"point": h.point_id, "vm": h.vm, "created": h.created,
             "path": str(GuestPath.in_volume(h.disk_key, h.volume_index, h.path)), "size": h.size, "mtime": h.mtime,
             "type": h.type, "first_seen": h.first_seen, "last_seen": h.last_seen}
            for h in catalog.search(args.pattern, vm=args.vm, limit=args.limit, since=args.since, until=args.until)]
    if args.json and not args.with_total:
        return rows  # the contract's list, and no count asked for: no counting query
    from vmrestore.app.catalog_service import HitCount

    # Fewer hits than the limit: that is every hit, no count needed.
    total = (HitCount(len(rows), False) if len(rows) < args.limit
             else catalog.count_hits(args.pattern, vm=args.vm, since=args.since, until=args.until))
    if not args.json:
        emit_table(rows, ["vm", "created", "path", "size", "mtime"])
        print(showing(len(rows), total))
        return rows
    return {"hits": rows, "total": total.total, "total_is_lower_bound": total.is_lower_bound}


def showing(shown: int, total: HitCount) -> str:
    """``showing 1–100 of 10,000+`` under a page of hits (``no hits`` when there are none)."""
    if not total.total:
        return "no hits"
    return f"showing 1–{shown:,} of {total.text()}" if shown else f"{total.text()} hits (none shown)"


def files_versions(ctx: CliContext, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = [{"point": v.point_id, "created": v.created, "size": v.size, "mtime": v.mtime, "changed": v.changed,
             "type": v.type}
            for v in ctx.services.catalog.versions(args.point, args.path)]
    if not args.json:
        emit_table(rows, ["point", "created", "size", "mtime", "changed"])
    return rows


def files_extract(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    from vmrestore.app.restore import ExtractRequest

    request = ExtractRequest(args.point, tuple(args.paths), args.target, args.conflict)
    job = ctx.services.restore.extract_job(request)
    result: ExtractResult = run_job(ctx.services.scheduler, job, quiet=args.json)
    out: dict[str, Any] = {"files": result.files, "bytes": result.bytes,
           "renamed": [{"from": a, "to": b} for a, b in result.renamed],
           "skipped": [{"path": s.path, "reason": s.reason} for s in result.skipped]}
    if not args.json:
        note(f"{result.files} files, {format_size(result.bytes)} extracted to {args.target}")
        for r in out["renamed"]:
            note(f"  renamed {r['from']} -> {r['to']}")
        for s in out["skipped"]:
            note(f"  skipped {s['path']}: {s['reason']}")
    return out
