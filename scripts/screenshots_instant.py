"""Screenshots of instant recovery from the real app at 1024x700 (run it under Xvfb).

    xvfb-run -a -s "-screen 0 1024x700x24" .venv/bin/python scripts/screenshots_instant.py docs/screenshots

Everything is real: a ghettoVCB repository with ESXi's vmfs + -flat disk layout built by the disk bench, the
bench's vCenter simulator with that repository behind its NFS mapping (nas01:/backups), the catalog indexed
by the real CLI, the app started by the real composition root. The tour walks the Instant recovery wizard
page by page, starts the VM from the summary's "Start <name>" button, and shows the Mounted page with the
running instant VM and its Migrate… and Discard dialogs (cancelled: nothing is migrated or discarded).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication, QWizard

from scripts.screenshots import HEIGHT, WIDTH, Shooter, until
from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec, PointSpec, make_repository
from vmrestore.ui.application import run_gui
from vmrestore.ui.main_window import MainWindow

EXPORT = "nas01:/backups"


def _visible(kind: type) -> Any:
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
    return found[0] if found else None


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vmrestore-instant-shots-"))
    home = work / "home"
    home.mkdir()
    (home / "settings.json").write_text(json.dumps({"first_run_done": True}))
    os.environ.update(VMRESTORE_HOME=str(home), VMRESTORE_POLICY=str(work / "policy.json"))
    os.environ.pop("VMRESTORE_CATALOG", None)
    repo = work / "Backups"
    disk = DiskSpec("gpt", [PartitionSpec("ntfs", 40, "SYSTEM", {"Windows/win.ini": "[fonts]\n"})])
    make_repository(DiskFactory(), repo, {"fs01": [
        PointSpec(datetime(2026, 11, 20, 1, 0, 0, tzinfo=UTC), [disk], subformat="vmfs"),
        PointSpec(datetime(2026, 11, 21, 1, 0, 0, tzinfo=UTC), [disk], subformat="vmfs")]})

    from tests.bench.vcsim.build import vcsim_binary
    from tests.bench.vcsim_fixtures import Vcsim, _options_to_args

    sim = Vcsim(binary=vcsim_binary(), workdir=str(work),
                args=_options_to_args(ds=2, nas={EXPORT: str(repo)}, relocate_moves=True))
    sim.start()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for args in (["repo", "add", "main", str(repo), "--nfs", EXPORT], ["catalog", "index"]):
        subprocess.run([sys.executable, "-m", "vmrestore", *args, "--json"], env=env, check=True,
                       capture_output=True)
    shooter = Shooter(out)

    from vmrestore.app.bootstrap import AppServices, build_services
    from vmrestore.app.secrets import MemorySecretStore

    def services() -> AppServices:
        built = build_services(secrets=MemorySecretStore())
        built.connection.open_blocking(sim.url, "administrator@vsphere.local", sim.password, thumbprint=sim.thumbprint)
        return built

    async def on_ready(window: MainWindow) -> None:
        try:
            await _tour(window, shooter)
        finally:
            window.close()

    try:
        return run_gui(services, [sys.argv[0]], on_ready=on_ready)
    finally:
        sim.stop()


async def _tour(window: MainWindow, shooter: Shooter) -> None:
    from vmrestore.ui.instant.section import DiscardDialog, InstantSection, MigrateDialog

    window.setGeometry(0, 0, WIDTH, HEIGHT)
    window.show_area("mounts")
    section: InstantSection = window.pages["mounts"].instant_section  # type: ignore[attr-defined]
    wizard = section.open_wizard()
    await until(lambda: wizard.where.host.count() > 0, what="hosts")
    await shooter.shot("instant-1-where", wait=0.8)
    wizard.next()
    await until(lambda: wizard.datastores.datastore.count() > 0, what="datastores")
    await shooter.shot("instant-2-datastore")
    wizard.next()
    await shooter.shot("instant-3-network")
    wizard.next()
    await shooter.shot("instant-4-name")
    wizard.next()
    await until(lambda: wizard.summary.plan is not None or "Cannot" in wizard.summary.text.text(), what="plan")
    await shooter.shot("instant-5-summary")
    wizard.button(QWizard.WizardButton.FinishButton).click()
    await until(lambda: wizard.handle is not None and wizard.handle.is_finished, what="the start")
    await until(lambda: section.model.rowCount() == 1, what="the row")
    section.table.selectRow(0)
    await shooter.shot("instant-6-mounted-page", wait=1.0)
    section.discard_button.click()
    await until(lambda: _visible(DiscardDialog) is not None, what="discard plan")
    await shooter.shot("instant-7-discard-plan")
    _visible(DiscardDialog).reject()
    await asyncio.sleep(0.3)
    section.migrate_button.click()
    await until(lambda: _visible(MigrateDialog) is not None, what="migrate dialog")
    await shooter.shot("instant-8-migrate")
    _visible(MigrateDialog).reject()


if __name__ == "__main__":
    sys.exit(main())
