"""PyInstaller entry for the console exe (vmrestore.exe <noun> <verb> --json, --version, --self-check)."""
import multiprocessing
import sys

if __name__ == "__main__":
    # The engine runs heavy parsing in "spawn" worker processes: in a frozen exe each worker starts this same
    # exe, and freeze_support() turns that start into the worker instead of a second vmrestore.
    multiprocessing.freeze_support()
    from vmrestore.__main__ import main

    sys.exit(main())
