"""Screenshot of the Restore points page on a real, indexed ghettoVCB repository.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshot_restore.py \
        docs/screenshots/restore-points.png [--search Q3] [--versions] [--dark]

The repository is built by the disk bench (tests/bench: real NTFS, FAT32 and ext4 volumes in real VMDKs, the
``backup_repo`` layout: web01 with 3 points, db01 with 2) in a temporary folder, the app runs with the real
composition root in a temporary ``VMRESTORE_HOME``, and the page's own "Index now" indexes the repository
through the real scheduler. Then it opens web01's newest point at Users/alice/Documents and selects the
report; ``--search`` shows the search tab with that pattern instead, ``--versions`` opens the versions dialog.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication

from tests.bench.disk_fixtures import REPO_LAYOUT
from tests.bench.diskfactory import DiskFactory, make_repository
from vmrestore.ui.application import run_gui
from vmrestore.ui.main_window import MainWindow
from vmrestore.ui.restore import RestorePointsPage
from vmrestore.ui.restore.versions import VersionsDialog
from vmrestore.ui.theme import dark_palette

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot import save, settle  # the shared screenshot helpers next to this script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--search", help="show the search tab with this pattern")
    parser.add_argument("--versions", action="store_true", help="open “Versions of this file” for the report")
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--size", default="1240x760", help="window size, e.g. 1024x700")
    parser.add_argument("--jobs", action="store_true",
                        help="restore Users/alice through the restore use case, then show the Jobs page")
    parser.add_argument("--damaged", action="store_true",
                        help="add a VM whose restore point has a damaged disk header, and select that point")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vmrestore-shot-"))
    os.environ.setdefault("VMRESTORE_HOME", str(work / "home"))
    os.environ.pop("VMRESTORE_CATALOG", None)
    repo_root = work / "backups"
    layout = dict(REPO_LAYOUT)
    if args.damaged:
        layout["file01"] = [REPO_LAYOUT["web01"][0]]
    built = make_repository(DiskFactory(), repo_root, layout)
    if args.damaged:  # a few flipped bytes in the sparse header: the grain directory offset
        [point] = built["file01"]
        with open(point.folder / point.disk_files[0], "r+b") as fh:
            fh.seek(56)
            fh.write(b"\xff\xff\xff\x00")

    from vmrestore.app.bootstrap import build_services

    setup = build_services()
    setup.catalog.add_repository("main", str(repo_root), None)
    setup.close()

    async def on_ready(window: MainWindow) -> None:
        if args.dark:
            app = QApplication.instance()
            assert isinstance(app, QApplication)
            app.setPalette(dark_palette())
        width, height = (int(v) for v in args.size.split("x"))
        window.resize(width, height)
        window.move(20, 20)
        window.show_area("points")
        page = window.pages["points"]
        assert isinstance(page, RestorePointsPage), type(page)
        while page.reloads == 0:
            await asyncio.sleep(0.05)
        handle = await page.index_now()  # the real "Index now": IndexRepositoryJob on the app's scheduler
        assert handle is not None and handle.error is None, handle and handle.error
        services = window._services
        newest = services.catalog.points("web01")[0]
        docs = "/disk0/vol1/Users/alice/Documents"
        await page.reveal(newest.id, docs, f"{docs}/Q3-report.xlsx")
        older = page.tree_model.point_index(services.catalog.points("db01")[0].id)
        page.tree.expand(older)
        await page.tree_model.ensure_loaded(older)
        page.tree.setCurrentIndex(page.tree_model.point_index(newest.id))  # keep the tree showing the path
        await page.reveal(newest.id, docs, f"{docs}/Q3-report.xlsx")
        if args.damaged:
            damaged = page.tree_model.point_index(services.catalog.points("file01")[0].id)
            page.tree.setCurrentIndex(damaged)
            page.tree.scrollTo(damaged)
        if args.jobs:
            from vmrestore.app.restore import ExtractRequest

            request = ExtractRequest(newest.id, ("/disk0/vol1/Users/alice",), str(work / "restored"))
            await services.restore.start_extract(request).wait()  # the same job the dialog starts
            window.show_area("jobs")
        if args.search:
            page.focus_search()
            page.search.pattern_edit.setText(args.search)
            await page.search.search()
        if args.versions:
            page.show_versions()
        await settle(0.8)
        save(out)
        for dialog in page.findChildren(VersionsDialog):
            dialog.reject()
        window.close()

    return run_gui(build_services, [sys.argv[0]], on_ready=on_ready)


if __name__ == "__main__":
    sys.exit(main())
