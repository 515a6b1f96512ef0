"""``connect`` and ``sweep``: the session with vCenter and crash recovery."""

from __future__ import annotations

import argparse
import os
from typing import Any

from vmrestore.cli.context import CliContext
from vmrestore.cli.output import emit_table, note


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("connect", parents=[common], help="log in, show/pin the certificate, save credentials")
    p.add_argument("--save", action="store_true", help="save the password in the OS keyring")
    p.set_defaults(func=connect)
    p = sub.add_parser("sweep", parents=[common], help="undo what a crashed run left behind")
    p.add_argument("--expired", action="store_true", help="also tear down mounts whose lease ended")
    p.set_defaults(func=sweep, needs_sweep=False)


def connect(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    identity = ctx.connect(save=args.save)
    settings = ctx.services.settings
    settings.last_server, settings.last_user = identity.server, identity.user
    settings.save()
    result = {"server": identity.server, "user": identity.user, "thumbprint": identity.thumbprint,
              "api_version": identity.api_version, "certificate": identity.certificate_state}
    if not args.json:
        note(f"Connected to {identity.server} as {identity.user} (API {identity.api_version}, "
             f"certificate {identity.certificate_state}, SHA-256 {identity.thumbprint})")
    return result


def sweep(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    services = ctx.services
    if services.sweeper().find() and (args.url or os.environ.get("VMRESTORE_URL")):
        ctx.connect()
    result = services.sweep_blocking()
    expired: list[dict[str, Any]] = []
    expired_failed: list[tuple[dict[str, Any], str]] = []
    if getattr(args, "expired", False):
        from vmrestore.cli.commands_mount import sweep_expired  # lazy: only this flag needs the mount code

        expired, expired_failed = sweep_expired(ctx)
    out: dict[str, Any] = {
        "found": [_entry(e) for e in result.found] + expired + [e for e, _ in expired_failed],
        "undone": [_entry(e) for e in result.undone] + expired,
        "failed": [{**_entry(e), "reason": reason} for e, reason in result.failed]
        + [{**e, "reason": reason} for e, reason in expired_failed],
        "expired": [e["id"] for e in expired],
        "owners_pruned": result.owners_pruned,
    }
    if not args.json:
        emit_table(out["found"], ["id", "kind", "resource", "job_id", "created"])
        note(f"{len(result.undone)} undone, {len(result.failed)} failed")
        for item in out["failed"]:
            note(f"  not undone: {item['kind']} {item['resource']}: {item['reason']}")
    return out


def _entry(entry: Any) -> dict[str, Any]:
    return {"id": entry.id, "kind": entry.kind, "resource": entry.resource, "job_id": entry.job_id,
            "created": entry.created, "undo": entry.undo}
