"""``snapshots scan|cleanup|orphans`` (shared/CLI.md): the snapshot monitor's command-line twin."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from vmrestore.app.snapshots.cleanup import (
    CleanupCriteria,
    CleanupReport,
    CleanupSnapshots,
    PlanItem,
    parse_age,
)
from vmrestore.app.snapshots.orphans import OrphanDeletion, OrphanFiles, orphan_json
from vmrestore.app.snapshots.types import SnapshotClass
from vmrestore.cli.context import CliContext
from vmrestore.cli.output import emit_table, note
from vmrestore.errors import InvalidInput
from vmrestore.model import Action, format_size


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    snaps = sub.add_parser("snapshots", help="snapshot monitor and cleanup").add_subparsers(
        dest="verb", metavar="VERB")
    p = snaps.add_parser("scan", parents=[common], help="every VM's snapshots with delta sizes and classes")
    p.add_argument("--datastore", help="only VMs with files on this datastore, and its orphaned files")
    p.add_argument("--no-orphans", action="store_true", help="skip the datastore search for orphaned files")
    p.set_defaults(func=scan)
    p = snaps.add_parser("cleanup", parents=[common], help="remove selected snapshots, verified afterwards")
    p.add_argument("--older-than", help="only snapshots older than this (7d, 12h, 2w)")
    p.add_argument("--class", dest="classes", help="comma-separated: " + ",".join(
        c.value for c in SnapshotClass if c is not SnapshotClass.OK))
    p.add_argument("--vm", nargs="+", action="extend", default=[], metavar="NAME", help="only these VMs")
    p.add_argument("--datastore", help="only snapshots whose delta lives on this datastore")
    p.add_argument("--remove-children", action="store_true",
                   help="remove each selected snapshot together with its child snapshots")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    mode.add_argument("--yes", action="store_true", help="remove without asking")
    p.set_defaults(func=cleanup)
    p = snaps.add_parser("orphans", parents=[common], help="list orphaned snapshot files, or delete listed ones")
    p.add_argument("--datastore", help="only this datastore")
    p.add_argument("--delete", nargs="+", default=[], metavar="PATH",
                   help="delete these files ('[ds] folder/file'), if a listing showed them and they are still "
                        "orphaned when checked again (admin only)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="with --delete: check again, delete nothing")
    mode.add_argument("--yes", action="store_true", help="with --delete: delete without asking")
    p.set_defaults(func=orphans)


def scan(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    ctx.connect()
    progress = note if args.verbose else None
    use = OrphanFiles(ctx.services)
    report = use.scanner.run_blocking(datastore=args.datastore, orphans=not args.no_orphans, progress=progress)
    use.remember(report)  # what this listing shows may be deleted with 'snapshots orphans --delete'
    out = report.to_json()
    if not args.json:
        rows = [{"vm": s.vm, "snapshot": s.name, "created": s.snapshot.created, "age_days": round(s.age_days, 1),
                 "size": s.size, "class": ",".join(str(c) for c in s.classes), "reasons": "; ".join(s.reasons)}
                for s in report.snapshots]
        emit_table(rows, ["vm", "snapshot", "created", "age_days", "size", "class", "reasons"])
        emit_table(out["datastores"], ["name", "capacity", "free", "delta_bytes"])  # type: ignore[arg-type]
        if report.orphans:
            note(f"{len(report.orphans)} orphaned file(s):")
            for o in report.orphans:
                note(f"  {o.path}  {format_size(o.size)}  {o.modified.isoformat() if o.modified else '-'}")
    return out


def _criteria(args: argparse.Namespace) -> CleanupCriteria:
    classes: set[SnapshotClass] = set()
    for word in (args.classes or "").split(","):
        if not word.strip():
            continue
        try:
            classes.add(SnapshotClass(word.strip().lower()))
        except ValueError as exc:
            raise InvalidInput(f"--class: unknown class {word!r}") from exc
    criteria = CleanupCriteria(
        older_than_days=parse_age(args.older_than) if args.older_than else None,
        classes=frozenset(classes), vms=frozenset(args.vm or ()), datastore=args.datastore,
    )
    if criteria.empty:
        raise InvalidInput("Say which snapshots to remove: --older-than, --class, --vm or --datastore")
    return criteria


def cleanup(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    services = ctx.services
    services.require(Action.SNAPSHOT_CLEANUP)  # refused before any vCenter call (exit 3)
    criteria = _criteria(args)
    ctx.connect()
    use_case = CleanupSnapshots(services)
    report = use_case.scanner.run_blocking(orphans=False)
    plan = use_case.plan(report, criteria, remove_children=args.remove_children)
    if args.dry_run:
        if not args.json:
            _print_plan(plan.items)
        return {"plan": [i.to_json() for i in plan.items], "removed": [], "failed": [], "freed_bytes": 0,
                "dry_run": True}
    if not args.json:
        _print_plan(plan.items)

    def listen(event: str, item: PlanItem | None, text: str) -> None:
        if item is not None:
            note(f"{event:>6}  {item.vm} / {item.name}: {text}")
        else:
            note(text)

    async def go() -> CleanupReport:
        try:
            return await use_case.run(plan, listener=listen)
        finally:
            await services.scheduler.shutdown()

    result = asyncio.run(go())
    if result.refused:
        ctx.exit_code = 3
    elif result.failed:
        ctx.exit_code = 1
    if not args.json:
        note(f"removed {len(result.removed)}, failed {len(result.failed)}, freed {format_size(result.freed_bytes)}")
        for o in result.failed:
            note(f"  not removed: {o.item.target}: {o.reason}")
    return {**result.to_json(), "dry_run": False}


def _print_plan(items: tuple[PlanItem, ...]) -> None:
    emit_table([{"vm": i.vm, "snapshot": i.name, "size": i.size, "datastore": i.datastore,
                 "reasons": "; ".join(i.reasons)} for i in items], ["vm", "snapshot", "size", "datastore", "reasons"])


def orphans(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    services = ctx.services
    progress = note if args.verbose else None
    if not args.delete:
        if args.dry_run or args.yes:
            raise InvalidInput("--dry-run and --yes go with --delete")
        ctx.connect()
        report = OrphanFiles(services).list_blocking(datastore=args.datastore, progress=progress)
        if not args.json:
            emit_table([orphan_json(o) for o in report.orphans], ["path", "size", "modified"])
            for w in report.scan.warnings:
                note(f"vmrestore: {w}")
        return {"orphan_files": [orphan_json(o) for o in report.orphans],
                "recent_files": [orphan_json(o) for o in report.scan.recent_unreferenced],
                "datastores": [d.datastore.name for d in report.datastores],
                "scanned_at": report.scan.scanned_at.isoformat(), "warnings": list(report.scan.warnings)}
    services.require(Action.DELETE)  # refused before any vCenter call (exit 3)
    if args.datastore:
        raise InvalidInput("--datastore lists; --delete takes the files' full paths")
    confirmed = bool(args.yes)
    if not (args.yes or args.dry_run):
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise InvalidInput("Deleting files needs --yes (or --dry-run to see what would go)")
        confirmed = _ask(f"Delete {len(args.delete)} file(s) from the datastore? This cannot be undone. [y/N] ") \
            and _ask("Really delete them? Type 'delete' to confirm: ", "delete")
        if not confirmed:
            raise InvalidInput("Not confirmed; nothing was deleted")
    ctx.connect()
    result = OrphanFiles(services).delete_blocking(
        args.delete, confirmed=confirmed, confirmed_again=confirmed, dry_run=args.dry_run, progress=note)
    if result.refused:
        ctx.exit_code = 3
    elif result.failed:
        ctx.exit_code = 1
    if not args.json:
        _print_deletion(result)
    return result.to_json()


def _ask(prompt: str, expected: str = "y") -> bool:
    answer = input(prompt).strip().lower()
    return answer in {expected, "yes"} if expected == "y" else answer == expected


def _print_deletion(result: OrphanDeletion) -> None:
    verb = "would delete" if result.dry_run else "deleted"
    for o in result.deleted:
        note(f"{verb}  {o.path}  {format_size(o.size)}")
    for o in result.skipped:
        note(f"skipped  {o.path}: {o.reason}")
    for o in result.failed:
        note(f"FAILED  {o.path}: {o.reason}")
    note(f"{verb} {len(result.deleted)}, skipped {len(result.skipped)}, failed {len(result.failed)}; "
         f"freed {format_size(result.freed_bytes)}")
