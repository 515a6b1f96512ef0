"""PyInstaller entry for the windowed exe (vmrestore-gui.exe: the Start-menu shortcut and the scheduled task).

With no arguments it opens the desktop app. With a command (the installer's scheduled task runs
``vmrestore-gui.exe sweep --expired``) it runs the command line without opening a console window every hour;
a windowed exe has no stdout/stderr, so output goes nowhere and the log file keeps the record.
"""
import multiprocessing
import os
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes re-run this exe (see entry_cli.py)
    if len(sys.argv) > 1:
        for name in ("stdout", "stderr"):
            if getattr(sys, name) is None:
                setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 (lives until exit)
        from vmrestore.__main__ import main

        sys.exit(main(sys.argv[1:]))
    from vmrestore.__main__ import gui_main

    sys.exit(gui_main())
