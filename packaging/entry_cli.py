"""PyInstaller entry for the console exe (vmrestore.exe <noun> <verb> --json)."""
import sys

from vmrestore.__main__ import main

sys.exit(main())
