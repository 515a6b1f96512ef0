"""Run ``vmrestore`` with the snapshots commands registered (until cli/main.py registers them itself).

Used by the CLI tests as ``python cli_runner.py snapshots ...``; once ``commands_snapshots`` is in
``cli.main.build_parser`` this is the same as ``python -m vmrestore``.
"""

from __future__ import annotations

import argparse
import sys

from vmrestore.cli import commands_snapshots
from vmrestore.cli import main as cli_main


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _ensure_registered() -> None:
    original = cli_main.build_parser
    if "snapshots" in _subparsers(original()).choices:
        return

    def build_with_snapshots() -> argparse.ArgumentParser:
        parser = original()
        # The same common options as cli.main.build_parser (not reachable from outside it).
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--json", action="store_true")
        common.add_argument("-v", "--verbose", action="store_true")
        common.add_argument("--url")
        common.add_argument("--username")
        common.add_argument("--thumbprint")
        common.add_argument("--insecure", action="store_true", default=None)
        commands_snapshots.register(_subparsers(parser), common)
        return parser

    cli_main.build_parser = build_with_snapshots


if __name__ == "__main__":
    _ensure_registered()
    sys.exit(cli_main.run(sys.argv[1:]))
