"""``instant start|list|migrate|stop`` (shared/CLI.md): run a VM straight from its backup, then keep or discard it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vmrestore.cli.context import CliContext
from vmrestore.cli.jobrun import run_job
from vmrestore.cli.output import emit_table, note
from vmrestore.errors import InvalidInput


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    verbs = sub.add_parser("instant", help="instant VM recovery from backup storage").add_subparsers(
        dest="verb", metavar="VERB")
    p = verbs.add_parser("start", parents=[common], help="run a restore point's VM from the backup (admin)")
    p.add_argument("point", metavar="POINT", help="restore point id (see 'points list')")
    p.add_argument("--host", required=True, help="ESXi host to run it on (name or id)")
    p.add_argument("--datastore", help="writable datastore for its files and deltas (default: most free space)")
    p.add_argument("--pool", help="resource pool (default: the host's or cluster's root pool)")
    p.add_argument("--folder", help="VM folder (default: the datacenter's VM folder)")
    p.add_argument("--name", help="VM name (default: <vm>-restored-<date>)")
    p.add_argument("--network", default="isolated",
                   help="'isolated' (default: NICs not connected) or a port group to connect at power-on")
    p.add_argument("--wait-ip", type=float, default=20.0, metavar="SECONDS",
                   help="how long to wait for VMware Tools to report an IP (default 20)")
    p.add_argument("--dry-run", action="store_true", help="check everything and print the plan; change nothing")
    p.set_defaults(func=start)
    p = verbs.add_parser("list", parents=[common], help="instant VMs started from this workstation")
    p.add_argument("--all", action="store_true",
                   help="also migrated and discarded ones, and with a shared catalog other workstations' active ones")
    p.set_defaults(func=list_cmd)
    p = verbs.add_parser("migrate", parents=[common], help="Storage vMotion to production storage (admin)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--datastore", required=True, help="the production datastore to move it to")
    p.add_argument("--connect-network", action="store_true", help="connect its NICs afterwards")
    p.set_defaults(func=migrate)
    p = verbs.add_parser("stop", parents=[common], help="discard: power off and delete the instant VM (admin)")
    p.add_argument("id", metavar="ID")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print what would be deleted")
    mode.add_argument("--yes", action="store_true", help="discard without asking")
    p.set_defaults(func=stop)


def _use_case(ctx: CliContext) -> Any:
    return ctx.services.instant


def start(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    from vmrestore.app.instant.plan import StartRequest
    from vmrestore.model import Action

    ctx.services.require(Action.INSTANT_RECOVERY)  # refused before any vCenter call (exit 3)
    ctx.connect()
    use = _use_case(ctx)
    request = StartRequest(point=args.point, host=args.host, datastore=args.datastore, pool=args.pool,
                           folder=args.folder, name=args.name, network=args.network, ip_wait_seconds=args.wait_ip)
    plan = use.plan_start(request)
    if args.dry_run:
        out: dict[str, Any] = {**plan.to_json(), "dry_run": True}
        if not args.json:
            note(f"would start {plan.name} on {plan.placement.host_name}, files and deltas on {plan.datastore.name} "
                 f"({plan.needed_bytes} bytes needed, {plan.datastore.free_space} free), network "
                 f"{plan.network or 'isolated'}")
        return out
    result = run_job(ctx.services.scheduler, use.start_job(plan), quiet=args.json)
    if not args.json:
        note(f"{result.vm} ({result.id}) is {result.power} on {result.host}; files on {result.datastore}; "
             f"network {result.network}; VMware Tools {result.tools}" + (f"; IP {result.ip}" if result.ip else ""))
    return dict(result.to_json())


def list_cmd(ctx: CliContext, args: argparse.Namespace) -> list[dict[str, Any]]:
    use = _use_case(ctx)
    records = use.list(include_finished=args.all, colleagues=args.all)
    rows = [r.to_json() for r in records]
    if rows and _can_connect(ctx):
        ctx.connect()
        for row, rec in zip(rows, records, strict=True):
            row.update(use.live_state(rec))
    if not args.json:
        emit_table(rows, ["id", "vm", "state", "host", "datastore", "point", "started", "workstation"])
    return rows


def _can_connect(ctx: CliContext) -> bool:
    import os

    return bool((ctx.args.url or os.environ.get("VMRESTORE_URL")) and
                (ctx.args.username or os.environ.get("VMRESTORE_USERNAME")))


def migrate(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    from vmrestore.model import Action

    ctx.services.require(Action.MIGRATE)
    ctx.connect()
    job = _use_case(ctx).migrate_job(args.id, args.datastore, args.connect_network)
    result = run_job(ctx.services.scheduler, job,
                     quiet=args.json)
    if not args.json:
        note(f"{result.vm} now runs from {result.datastore}" + (f"; unmounted {result.unmounted}"
                                                               if result.unmounted else ""))
    return dict(result.to_json())


def stop(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    from vmrestore.model import Action

    ctx.services.require(Action.INSTANT_DISCARD)
    ctx.connect()
    use = _use_case(ctx)
    plan = use.plan_discard(args.id)
    if not args.json or args.dry_run:
        for path, size in plan.delete:
            note(f"delete  {path}  {size} bytes")
        for path in plan.keep:
            note(f"keep    {path}  (backup, never touched)")
    if args.dry_run:
        return {**plan.to_json(), "dry_run": True}
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise InvalidInput("Discarding an instant VM needs --yes (or --dry-run to see what would go)")
        answer = input(f"Power off and delete {plan.record.name}? Its changes since the start are lost. [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            raise InvalidInput("Not confirmed; nothing was changed")
    result = run_job(ctx.services.scheduler, use.discard_job(args.id), quiet=args.json)
    return dict(result.to_json())
