"""Building the PyInstaller bundle once per test session, from the tracked files only (a clean checkout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench.tools import missing

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Bundle:
    folder: Path  # dist/vmrestore: vmrestore(.exe), vmrestore-gui(.exe), _internal/
    seconds: float  # how long pyinstaller took
    workpath: Path  # build/vmrestore: the spec writes version_info.txt (the Windows version resource) there

    @property
    def cli(self) -> Path:
        return self.folder / "vmrestore"

    @property
    def gui(self) -> Path:
        return self.folder / "vmrestore-gui"


def clean_checkout(dest: Path) -> Path:
    """Copy what git tracks (as it is in the work tree) into ``dest``: no build/, dist/, caches or stray files."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def build_bundle(work: Path) -> Bundle:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        missing("pyinstaller is not installed: pip install -e '.[test]' (scripts/setup-tests.sh)")
    checkout = clean_checkout(work / "checkout")
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(work / "dist"), "--workpath", str(work / "build"), "packaging/vmrestore.spec"],
        cwd=checkout, capture_output=True, text=True, timeout=900,
    )
    seconds = time.perf_counter() - started
    assert out.returncode == 0, f"pyinstaller failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    return Bundle(work / "dist" / "vmrestore", seconds, work / "build" / "vmrestore")
