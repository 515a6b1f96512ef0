"""Screenshot of the Snapshots page connected to a real simulator with snapshots (not a test).

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python tests/ui/snapshots/screenshot_snapshots.py \
        docs/screenshots/snapshots.png

Starts the bench simulator, makes a few snapshot scenarios with real pyVmomi calls (a nested tree with
a real 4.7 MiB delta, backup-tool leftovers, an old orphaned delta file), then runs the real app (the
real composition root, in a temporary ``VMRESTORE_HOME``), logs in, scans on the Snapshots page, selects
the first VM and grabs the screen, as scripts/screenshot.py does for the other pages.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from tests.bench.vcsim.build import vcsim_binary  # noqa: E402
from tests.bench.vcsim_fixtures import Vcsim, _options_to_args  # noqa: E402
from tests.integration.snapshots.snaphelpers import (  # noqa: E402
    grow_delta,
    open_session,
    snapshot,
    vms,
    write_file,
)


def build_world(sim: Vcsim, tmp: str) -> None:
    session = open_session(sim, tmp)
    machines = vms(session)
    names = sorted(machines)
    a, b, c = (machines[n] for n in names[:3])
    snapshot(session, a, "before-upgrade", "taken by hand before the 4.2 upgrade", quiesce=True)
    grow_delta(session, sim, a, 300 * 1024 * 1024 // 64)
    snapshot(session, a, "VEEAM BACKUP TEMPORARY SNAPSHOT", "Please do not delete this snapshot.")
    snapshot(session, a, "after-upgrade")
    snapshot(session, b, "ghettoVCB-snapshot-2026-01-31")
    snapshot(session, b, "nightly", "BareosTmpSnap_jobId_4711")
    snapshot(session, c, "pre-patch", "monthly patching")
    write_file(sim, "[LocalDS_0] decommissioned-db/decommissioned-db-000002.vmdk", 2 * 1024 * 1024, age_days=64)
    write_file(sim, "[LocalDS_0] decommissioned-db/decommissioned-db-Snapshot4.vmsn", 32 * 1024, age_days=64)
    session.close()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "snapshots.png").resolve()
    work = tempfile.mkdtemp(prefix="snapshot-shot-")
    sim = Vcsim(binary=vcsim_binary(), workdir=work, args=_options_to_args(cluster=1, host=2, vm=3, ds=1))
    sim.start()
    try:
        build_world(sim, work)
        home = Path(work) / "home"
        home.mkdir()
        (home / "policy.json").write_text(json.dumps({"role": "admin"}))
        os.environ["VMRESTORE_HOME"] = str(home)
        os.environ["VMRESTORE_POLICY"] = str(home / "policy.json")

        from PySide6.QtGui import QGuiApplication

        from vmrestore.app.bootstrap import AppServices, build_services
        from vmrestore.app.secrets import MemorySecretStore
        from vmrestore.ui.application import run_gui
        from vmrestore.ui.main_window import MainWindow

        def services() -> AppServices:
            built = build_services(secrets=MemorySecretStore())
            built.connection.open_blocking(sim.url, sim.username, sim.password, thumbprint=sim.thumbprint)
            return built

        async def on_ready(window: MainWindow) -> None:
            window.resize(1200, 740)
            window.move(20, 20)
            window.show_area("snapshots")
            page = window.pages["snapshots"]
            page.start_scan()  # type: ignore[attr-defined]
            for _ in range(300):
                if page.report is not None and page.scan_button.isEnabled():  # type: ignore[attr-defined]
                    break
                await asyncio.sleep(0.05)
            proxy = page.proxy  # type: ignore[attr-defined]
            rows = [r for r in range(proxy.rowCount()) if proxy.index(r, 1).data() == "after-upgrade"]
            page.table.selectRow(rows[0] if rows else 0)  # type: ignore[attr-defined]
            await asyncio.sleep(0.8)
            pixmap = QGuiApplication.primaryScreen().grabWindow(0)
            if not pixmap.save(str(out), "PNG"):
                raise SystemExit(f"could not write {out}")
            print(f"saved {out} ({pixmap.width()}x{pixmap.height()})", file=sys.stderr)
            window.close()

        return run_gui(services, [sys.argv[0]], on_ready=on_ready)
    finally:
        sim.stop()


if __name__ == "__main__":
    sys.exit(main())
