"""Entry points: ``vmrestore`` (CLI, or the desktop app with no arguments) and ``vmrestore-gui``."""

from __future__ import annotations

import json
import sys


def gui_main() -> int:
    from vmrestore.app.bootstrap import AppServices, build_services
    from vmrestore.app.logging_setup import setup_logging
    from vmrestore.app.secrets import KeyringSecretStore
    from vmrestore.ui.application import run_gui  # Qt is imported only when the GUI starts

    secrets = KeyringSecretStore()  # one for every try: a catalog password typed at start stays in it

    def services() -> AppServices:
        built = build_services(secrets=secrets)
        setup_logging(built.paths.log_dir)  # the rotating log file of the desktop app
        return built

    return run_gui(services)


# ``--version`` and ``--self-check`` stand alone (with ``--json``); handled before anything heavy is imported,
# so ``vmrestore --version`` starts no Qt, pyVmomi or database (measured: packaging/README.md).
_TOPLEVEL_FLAGS = {"--version", "--self-check", "--json"}


def _toplevel(args: list[str]) -> int | None:
    if not args or not set(args) <= _TOPLEVEL_FLAGS or not {"--version", "--self-check"} & set(args):
        return None
    as_json = "--json" in args
    if "--version" in args and "--self-check" in args:
        print("vmrestore: use --version or --self-check, not both", file=sys.stderr)
        return 2
    if "--version" in args:
        import vmrestore

        if as_json:
            print(json.dumps({"version": vmrestore.__version__}))
        else:
            print(f"vmrestore {vmrestore.__version__}")
        return 0
    from vmrestore.selfcheck import main as self_check

    return self_check(as_json)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] == "gui":
        return gui_main()
    code = _toplevel(args)
    if code is not None:
        return code
    from vmrestore.cli.main import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
