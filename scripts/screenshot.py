"""Start the real desktop app, take a screenshot, quit.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshot.py out.png [--page jobs]
        [--connect] [--prompt] [--changed] [--demo-jobs] [--dark]

The app is built by the real composition root (``vmrestore.app.bootstrap.build_services``) in a temporary
``VMRESTORE_HOME`` (unless one is set), so a screenshot never touches a user's settings or state.
``--connect`` opens File › Connect… first; ``--prompt`` / ``--changed`` show the certificate prompt / the
changed-certificate warning with sample thumbprints; ``--demo-jobs`` submits three short real jobs (a
screenshot aid, not app data) to show the Jobs table; ``--dark`` forces the dark palette.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from vmrestore import errors
from vmrestore.ui.application import run_gui
from vmrestore.ui.cert_dialogs import CertificateChangedDialog, ThumbprintPrompt
from vmrestore.ui.main_window import AREA_KEYS, MainWindow
from vmrestore.ui.theme import dark_palette

SAMPLE_THUMBPRINT = "5E:0C:9A:11:47:B2:3D:E8:6F:20:C4:91:7A:D3:08:BE:52:19:E6:7C:3A:F0:44:8D:A1:6B:2E:97:C5:13:D8:70"


class DemoJob:
    """A real job for the real scheduler that reports progress like an index or restore would."""

    def __init__(self, title: str, kind: str, stop_at: float | None, fail: bool = False) -> None:
        self.title, self.kind, self.resource_keys = title, kind, ()
        self.stop_at, self.fail = stop_at, fail

    async def run(self, ctx: Any) -> Any:
        steps = 20
        for i in range(steps + 1):
            fraction = i / steps
            ctx.progress(fraction, f"Reading volume 1 of 2 — {i * 512} files")
            if i % 5 == 0:
                ctx.log(f"step {i}: {i * 512} files indexed")
            if self.fail and fraction >= 0.3:
                raise errors.PermissionDenied("VirtualMachine.Config.AddExistingDisk", "fileserver01")
            if self.stop_at is not None and fraction >= self.stop_at:
                await asyncio.Event().wait()  # stays running for the screenshot
            await asyncio.sleep(0.01)
        return {"files": 10240}


async def settle(seconds: float = 0.6) -> None:
    await asyncio.sleep(seconds)


def save(path: Path) -> None:
    screen = QGuiApplication.primaryScreen()
    pixmap = screen.grabWindow(0)
    if not pixmap.save(str(path), "PNG"):
        raise SystemExit(f"could not write {path}")
    print(f"saved {path} ({pixmap.width()}x{pixmap.height()})", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--page", choices=AREA_KEYS, default="points")
    parser.add_argument("--connect", action="store_true", help="open the connect dialog")
    parser.add_argument("--prompt", action="store_true", help="show the thumbprint prompt")
    parser.add_argument("--changed", action="store_true", help="show the changed-certificate warning")
    parser.add_argument("--demo-jobs", action="store_true", help="run three short demo jobs first")
    parser.add_argument("--dark", action="store_true", help="force the dark palette")
    args = parser.parse_args()
    os.environ.setdefault("VMRESTORE_HOME", tempfile.mkdtemp(prefix="vmrestore-shot-"))
    out: Path = args.out.resolve()

    async def on_ready(window: MainWindow) -> None:
        if args.dark:
            app = QApplication.instance()
            assert isinstance(app, QApplication)
            app.setPalette(dark_palette())
        window.resize(1200, 740)
        window.move(20, 20)
        handles = []
        if args.demo_jobs:
            scheduler = window._services.scheduler  # the real scheduler the app built
            handles = [
                scheduler.submit(DemoJob("Index restore points of fileserver01", "index", None)),
                scheduler.submit(DemoJob("Restore /Users/alice/Q3-report.xlsx", "extract", None, fail=True)),
                scheduler.submit(DemoJob("Mount disk 1 of sql02 (2026-11-25 22:00)", "mount", 0.45)),
            ]
            await settle(1.5)
        window.show_area(args.page)
        if args.connect:
            window.open_connect_dialog()
        if args.prompt:
            ThumbprintPrompt("vc01.corp.example", SAMPLE_THUMBPRINT, window).open()
        if args.changed:
            CertificateChangedDialog("vc01.corp.example", SAMPLE_THUMBPRINT, SAMPLE_THUMBPRINT[::-1], window).open()
        await settle()
        save(out)
        for handle in handles:
            handle.cancel()
        for handle in handles:
            await handle.wait()
        for dialog in [*window.findChildren(ThumbprintPrompt), *window.findChildren(CertificateChangedDialog)]:
            dialog.reject()
        window.close()

    from vmrestore.app.bootstrap import build_services

    return run_gui(build_services, [sys.argv[0]], on_ready=on_ready)


if __name__ == "__main__":
    sys.exit(main())
