"""The ``vmrestore`` command line (shared/CLI.md): argparse front end over the app services.

Each command module registers its sub-commands; a command is a function ``(ctx, args) -> result``.
Errors become exit codes here, in one place: 1 failed, 2 bad usage, 3 refused (role, vCenter
``NoPermission``, untrusted certificate). With ``--json`` the error is printed as ``{"error": ...}``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vmrestore.cli.output import emit_json, note
from vmrestore.errors import VmrestoreError

if TYPE_CHECKING:
    from vmrestore.app.bootstrap import AppServices
    from vmrestore.cli.context import CliContext

log = logging.getLogger(__name__)

Command = Callable[["CliContext", argparse.Namespace], Any]

# The command table: each noun and the module that registers it (``register(sub, common)``), in ``--help``
# order. Only the module of the noun being run is imported, so ``points list`` does not load the snapshot
# or mount commands' imports (start-up time, issue 13 §6); ``--help`` or an unknown noun loads them all.
COMMANDS: dict[str, str] = {
    "connect": "commands_session", "sweep": "commands_session",
    "jobs": "commands_state", "audit": "commands_state",
    "repo": "commands_repo",
    "catalog": "commands_catalog", "points": "commands_catalog", "files": "commands_catalog",
    "snapshots": "commands_snapshots",
    "settings": "commands_settings",
    "instant": "commands_instant",
    "mount": "commands_mount",
}


def _modules_for(argv: Sequence[str]) -> list[str]:
    """The command modules to register for ``argv``: the noun's own, or all of them."""
    noun = next((a for a in argv if not a.startswith("-")), None)
    if noun in COMMANDS:
        return [COMMANDS[noun]]
    return list(dict.fromkeys(COMMANDS.values()))


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for ``argv`` (the nouns it names; every noun when it names none it knows)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    common.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    common.add_argument("--url", help="vCenter URL (env VMRESTORE_URL)")
    common.add_argument("--username", help="vCenter user (env VMRESTORE_USERNAME)")
    common.add_argument("--thumbprint",
                        help="expected SHA-256 certificate thumbprint (env VMRESTORE_THUMBPRINT)")
    common.add_argument("--insecure", action="store_true", default=None,
                        help="skip certificate checks (env VMRESTORE_INSECURE=1); logged as a warning")
    parser = argparse.ArgumentParser(prog="vmrestore", description="Restore console for VMware vSphere")
    # Handled before this parser by vmrestore.__main__ (fast, no Qt); listed here for --help and misuse.
    parser.add_argument("--version", action="store_true", help="print the version (alone, or with --json)")
    parser.add_argument("--self-check", action="store_true",
                        help="check that this installation starts: Qt offscreen, state, catalog (alone, or --json)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _modules_for(argv):
        importlib.import_module(f"vmrestore.cli.{name}").register(sub, common)
    return parser


def run(argv: list[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.version or args.self_check:
        parser.error("--version and --self-check stand alone (optionally with --json)")
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    from vmrestore.app.logging_setup import setup_logging  # after parsing: --help and usage errors stay quick
    from vmrestore.cli.catalog_login import build_services_with_login
    from vmrestore.cli.context import CliContext

    services: AppServices | None = None
    try:
        services = build_services_with_login()
        setup_logging(services.paths.log_dir, verbose=args.verbose, console=True)
        ctx = CliContext(services=services, args=args)
        if getattr(args, "needs_sweep", True):
            ctx.sweep_quietly()
        result = func(ctx, args)
        if args.json:
            emit_json(result)
        return ctx.exit_code
    except VmrestoreError as exc:
        log.info("command failed: %s", exc, exc_info=exc.__cause__ is not None)
        if getattr(args, "json", False):
            emit_json({"error": exc.to_json()})
        note(f"vmrestore: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        note("vmrestore: interrupted")
        return 130
    finally:
        if services is not None:
            services.close()
