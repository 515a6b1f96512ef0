"""PyInstaller entry for the windowed exe (vmrestore-gui.exe: the Start-menu shortcut)."""
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes re-run this exe (see entry_cli.py)
    from vmrestore.__main__ import gui_main

    sys.exit(gui_main())
