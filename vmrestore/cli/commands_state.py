"""``jobs list`` and ``audit list/verify``: what vmrestore did, read from its state store."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from vmrestore.cli.context import CliContext
from vmrestore.cli.output import emit_table, note
from vmrestore.errors import InvalidInput


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    jobs = sub.add_parser("jobs", help="background jobs").add_subparsers(dest="verb", metavar="VERB")
    p = jobs.add_parser("list", parents=[common], help="recent jobs of every vmrestore process")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=jobs_list)
    audit_parser = sub.add_parser("audit", help="the tamper-evident audit log")
    audit = audit_parser.add_subparsers(dest="verb", metavar="VERB")
    p = audit.add_parser("list", parents=[common], help="audit entries")
    p.add_argument("--since", help="ISO 8601 time, e.g. 2026-11-01T00:00:00+00:00")
    p.set_defaults(func=audit_list)
    p = audit.add_parser("verify", parents=[common],
                         help="check the hash chain; exit 1 if it was tampered with")
    p.set_defaults(func=audit_verify)


def jobs_list(ctx: CliContext, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = [
        {"id": r.id, "kind": r.kind, "state": str(r.state), "progress": r.progress, "started": r.started,
         "finished": r.finished, "error": r.error}
        for r in ctx.services.scheduler.history(limit=args.limit)
    ]
    if not args.json:
        emit_table(rows, ["id", "kind", "state", "progress", "started", "finished", "error"])
    return rows


def audit_list(ctx: CliContext, args: argparse.Namespace) -> list[dict[str, Any]]:
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError as exc:
            raise InvalidInput(f"--since: not an ISO 8601 time: {args.since}") from exc
    rows = [
        {"seq": e.seq, "time": e.time, "user": e.os_user, "vcenter_user": e.vcenter_user, "role": e.role,
         "action": e.action, "target": e.target, "result": e.result, "detail": e.detail}
        for e in ctx.services.audit.entries(since=since)
    ]
    if not args.json:
        emit_table(rows, ["seq", "time", "user", "vcenter_user", "role", "action", "target", "result"])
    return rows


def audit_verify(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    result = ctx.services.audit.verify()
    out = {"ok": result.ok, "entries": result.entries, "problems": list(result.problems)}
    if not args.json:
        note(f"audit log: {'OK' if result.ok else 'TAMPERED'}, {result.entries} entries")
        for problem in result.problems:
            note(f"  {problem}")
    if not result.ok:
        ctx.exit_code = 1
    return out
