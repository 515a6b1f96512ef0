"""``settings show|set``: the same validated, role-checked settings as the Settings dialog."""

from __future__ import annotations

import argparse
from typing import Any

from vmrestore.app.settings_edit import RULES, CertificatePins, SettingsEditor
from vmrestore.cli.context import CliContext
from vmrestore.cli.output import emit_table, note


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    settings = sub.add_parser("settings", help="workstation settings").add_subparsers(dest="verb", metavar="VERB")
    p = settings.add_parser("show", parents=[common], help="every setting, its value and who may change it")
    p.set_defaults(func=settings_show, needs_sweep=False)
    p = settings.add_parser("set", parents=[common], help="change one setting (validated; most are admin-only)")
    p.add_argument("key", choices=sorted(RULES))
    p.add_argument("value", help="leftover_patterns: one pattern per line or comma-separated; "
                                 "catalog_location: '' for the default")
    p.set_defaults(func=settings_set, needs_sweep=False)
    p = settings.add_parser("certificates", parents=[common], help="pinned vCenter certificate thumbprints")
    p.set_defaults(func=certificates_list, needs_sweep=False)
    p = settings.add_parser("forget-certificate", parents=[common],
                            help="drop a pinned certificate: the next connection asks again (admin)")
    p.add_argument("server", help="host[:port] as listed by 'settings certificates'")
    p.set_defaults(func=certificate_forget, needs_sweep=False)


def _editor(ctx: CliContext) -> SettingsEditor:
    return ctx.services.settings_editor


def settings_show(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    values = _editor(ctx).values()
    if not args.json:
        emit_table([{"key": k, "value": v, "admin_only": RULES[k].admin_only} for k, v in values.items()],
                   ["key", "value", "admin_only"])
    return {**values, "role": str(ctx.services.settings.role),
            "role_locked": bool(ctx.services.settings.role_locked)}


def settings_set(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    value: Any = args.value
    if args.key == "leftover_patterns" and "\n" not in value:
        value = [p for p in value.split(",")]
    changed = _editor(ctx).update({args.key: value})
    if not args.json:
        note(f"{args.key} changed" if changed else f"{args.key} unchanged")
        if args.key == "catalog_location" and changed:
            note("The new catalog location is used from the next start of vmrestore")
    return {"changed": changed, args.key: getattr(ctx.services.settings, args.key)}


def _pins(ctx: CliContext) -> CertificatePins:
    return ctx.services.certificates


def certificates_list(ctx: CliContext, args: argparse.Namespace) -> list[dict[str, str]]:
    rows = [{"server": s, "thumbprint": t} for s, t in _pins(ctx).list().items()]
    if not args.json:
        emit_table(rows, ["server", "thumbprint"])
    return rows


def certificate_forget(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    _pins(ctx).forget(args.server)
    if not args.json:
        note(f"The certificate of {args.server} is no longer pinned; the next connection asks again")
    return {"server": args.server, "forgotten": True}
