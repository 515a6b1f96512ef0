"""``snapshots scan|cleanup|orphans`` (shared/CLI.md): the snapshot monitor's command-line twin."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from vmrestore.app.snapshots.types import SnapshotClass
from vmrestore.cli.context import CliContext
from vmrestore.cli.output import emit_table, note
from vmrestore.errors import InvalidInput
from vmrestore.model import Action, format_size

if TYPE_CHECKING:
    from vmrestore.app.snapshots.cleanup import CleanupCriteria, CleanupPlan, CleanupReport, PlanItem
    from vmrestore.app.snapshots.quarantine import QuarantineReport

# The snapshot use cases (and pyVmomi under them) are imported inside the commands that run them: every
# other command (``points list``...) registers this module's parsers but must not pay for its imports.


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    snaps = sub.add_parser("snapshots", help="snapshot monitor and cleanup").add_subparsers(
        dest="verb", metavar="VERB")
    p = snaps.add_parser("scan", parents=[common], help="every VM's snapshots with delta sizes and classes")
    p.add_argument("--datastore", help="only VMs with files on this datastore, and its orphaned files")
    p.add_argument("--no-orphans", action="store_true", help="skip the datastore search for orphaned files")
    p.set_defaults(func=scan)
    p = snaps.add_parser(
        "cleanup", parents=[common], help="remove selected snapshots, verified afterwards",
        description="Every given condition must hold (each listed class too). Never offered, whatever the "
                    "conditions: a snapshot younger than the settings' snapshot_cleanup_min_age_hours (24 h by "
                    "default) or one whose VM has a task queued or running; the plan lists them as held_back.")
    p.add_argument("--older-than", help="only snapshots older than this (7d, 12h, 2w)")
    p.add_argument("--class", dest="classes", help="comma-separated, each must hold: " + ",".join(
        c.value for c in SnapshotClass if c is not SnapshotClass.OK))
    p.add_argument("--vm", nargs="+", action="extend", default=[], metavar="NAME", help="only these VMs")
    p.add_argument("--datastore", help="only snapshots whose delta lives on this datastore")
    p.add_argument("--remove-children", action="store_true",
                   help="remove each selected snapshot together with its child snapshots")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    mode.add_argument("--yes", action="store_true", help="remove without asking")
    p.set_defaults(func=cleanup)
    p = snaps.add_parser("orphans", parents=[common],
                         help="list orphaned snapshot files; move listed ones to the quarantine, back, or purge")
    p.add_argument("--datastore", help="only this datastore (listing, --purge)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--delete", nargs="+", default=[], metavar="PATH",
                      help="move these files ('[ds] folder/file') to '[ds] .vmrestore-quarantine/<date>/', if a "
                           "listing showed them and they are still deletable orphans when checked again (admin)")
    what.add_argument("--restore", nargs="+", default=[], metavar="PATH",
                      help="move quarantined files back to where they came from (their quarantine path, or "
                           "their original path) (admin)")
    what.add_argument("--purge", action="store_true",
                      help="delete quarantined files for good; needs --older-than (admin)")
    p.add_argument("--older-than", help="with --purge: only files quarantined at least this long ago (14d, 2w)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    mode.add_argument("--yes", action="store_true", help="act without asking")
    p.set_defaults(func=orphans)


def scan(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    ctx.connect()
    progress = note if args.verbose else None
    use = ctx.services.snapshots.orphans
    report = ctx.services.snapshots.scan.run_blocking(datastore=args.datastore, orphans=not args.no_orphans,
                                                      progress=progress)
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
                state = "deletable" if o.deletable else o.reason
                note(f"  {o.path}  {format_size(o.size)}  {o.modified.isoformat() if o.modified else '-'}  {state}")
    return out


def _criteria(args: argparse.Namespace) -> CleanupCriteria:
    from vmrestore.app.snapshots.cleanup import CleanupCriteria, parse_age

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
    use_case = services.snapshots.cleanup
    report = services.snapshots.scan.run_blocking(orphans=False)
    if args.dry_run:
        dry = use_case.dry_run_blocking(report, criteria, remove_children=args.remove_children)
        if not args.json:
            _print_plan(dry.offered)
            for i, why in dry.preflight.blocked:
                note(f"  blocked: {i.target}: {why}")
        return dry.to_json()
    plan = use_case.plan_blocking(report, criteria, remove_children=args.remove_children)
    if not args.json:
        _print_plan(plan)

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
    return {**result.to_json(), "held_back": [h.to_json() for h in plan.held_back], "dry_run": False}


def _print_plan(plan: CleanupPlan) -> None:
    emit_table([{"vm": i.vm, "snapshot": i.name, "size": i.size, "datastore": i.datastore,
                 "reasons": "; ".join(i.reasons)} for i in plan.items],
               ["vm", "snapshot", "size", "datastore", "reasons"])
    for held in plan.held_back:
        note(f"  held back: {held.item.target}: {held.reason}")


def orphans(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    from vmrestore.app.snapshots.orphans import orphan_json

    services = ctx.services
    progress = note if args.verbose else None
    acting = bool(args.delete or args.restore or args.purge)
    if args.older_than and not args.purge:
        raise InvalidInput("--older-than goes with --purge")
    if not acting:
        if args.dry_run or args.yes:
            raise InvalidInput("--dry-run and --yes go with --delete, --restore or --purge")
        ctx.connect()
        report = services.snapshots.orphans.list_blocking(datastore=args.datastore, progress=progress)
        if not args.json:
            emit_table([orphan_json(o) for o in report.orphans], ["path", "size", "modified", "deletable", "reason"])
            for w in report.scan.warnings:
                note(f"vmrestore: {w}")
        return {"orphans": [orphan_json(o) for o in report.orphans], "moved": [], "purged": [],
                "recent_files": [orphan_json(o) for o in report.scan.recent_unreferenced],
                "datastores": [d.datastore.name for d in report.datastores],
                "scanned_at": report.scan.scanned_at.isoformat(), "warnings": list(report.scan.warnings)}
    services.require(Action.DELETE)  # refused before any vCenter call (exit 3)
    if args.purge and not args.older_than:
        raise InvalidInput("--purge needs --older-than (e.g. --older-than 14d)")
    if args.datastore and not args.purge:
        raise InvalidInput("--datastore lists or purges; --delete and --restore take the files' full paths")
    days = _whole_days(args.older_than) if args.purge else 0
    confirmed = bool(args.yes)
    if not (args.yes or args.dry_run):
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise InvalidInput("Changing datastore files needs --yes (or --dry-run to see the plan)")
        question = (f"Delete quarantined files older than {days} day(s) for good? This cannot be undone. [y/N] "
                    if args.purge else "Move the files as listed? [y/N] ")
        confirmed = _ask(question)
        if not confirmed:
            raise InvalidInput("Not confirmed; nothing was changed")
    ctx.connect()
    if args.delete:
        result = services.snapshots.orphans.quarantine_blocking(args.delete, confirmed=confirmed,
                                                                 dry_run=args.dry_run, progress=note)
    elif args.restore:
        result = services.snapshots.quarantine.restore_blocking(args.restore, confirmed=confirmed,
                                                             dry_run=args.dry_run, progress=note)
    else:
        result = services.snapshots.quarantine.purge_blocking(older_than_days=days, datastore=args.datastore,
                                                           confirmed=confirmed, dry_run=args.dry_run, progress=note)
    if result.refused_by_permission:
        ctx.exit_code = 3
    elif result.failed:
        ctx.exit_code = 1
    if not args.json:
        _print_quarantine(result)
    return result.to_json()


def _whole_days(text: str) -> int:
    from vmrestore.app.snapshots.cleanup import parse_age

    age = parse_age(text)  # days, as a float
    if age != int(age):
        raise InvalidInput(f"--older-than {text}: the quarantine counts whole days (e.g. 14d, 2w)")
    return int(age)


def _ask(prompt: str) -> bool:
    return input(prompt).strip().lower() in {"y", "yes"}


def _print_quarantine(result: QuarantineReport) -> None:
    for m in result.plan:
        note(f"would move  {m.source}  ->  {m.destination}  ({format_size(m.size)})")
    for m in result.moved:
        note(f"moved  {m.source}  ->  {m.destination}  ({format_size(m.size)})")
    verb = "would purge" if result.dry_run else "purged"
    for q in result.purged:
        note(f"{verb}  {q.path}  (was {q.original}, quarantined {q.day.isoformat()}, {format_size(q.size)})")
    for o in result.refused:
        note(f"REFUSED  {o.path}: {o.reason}")
    for o in result.skipped:
        note(f"skipped  {o.path}: {o.reason}")
    for o in result.failed:
        note(f"FAILED  {o.path}: {o.reason}")
