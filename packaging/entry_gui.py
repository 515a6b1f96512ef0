"""PyInstaller entry for the windowed exe."""
import sys

from vmrestore.__main__ import gui_main

sys.exit(gui_main())
