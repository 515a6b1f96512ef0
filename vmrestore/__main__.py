"""Entry points: ``vmrestore`` (CLI, or the desktop app with no arguments) and ``vmrestore-gui``."""

from __future__ import annotations

import sys


def gui_main() -> int:
    from vmrestore.app.bootstrap import AppServices, build_services
    from vmrestore.app.logging_setup import setup_logging
    from vmrestore.ui.application import run_gui  # Qt is imported only when the GUI starts

    def services() -> AppServices:
        built = build_services()
        setup_logging(built.paths.log_dir)  # the rotating log file of the desktop app
        return built

    return run_gui(services)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] == "gui":
        return gui_main()
    from vmrestore.cli.main import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
