"""Screenshots of the orphan quarantine wizard against a real simulator (not a test).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/ui/snapshots/screenshot_orphans.py docs/screenshots

Starts the bench simulator with one VM hidden from the operator at the SOAP level (``hide_refs``), writes
old orphaned delta/snapshot files (four provably orphaned, one in the hidden VM's folder), logs in with
the real composition root, lists the orphans through the real use case, opens the wizard at 1024x700,
ticks the provable files and grabs the pick page and the plan page (the real dry run, re-checked under
the datastore lock) with its button naming the action.
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
from tests.integration.snapshots.snaphelpers import home_folder, open_session, vms, write_file  # noqa: E402

USER = "operator"


def build_world(sim: Vcsim, tmp: str) -> None:
    session = open_session(sim, tmp)
    hidden = home_folder(session, vms(session)["DC0_C0_RP0_VM1"])
    write_file(sim, "[LocalDS_0] decommissioned-db/decommissioned-db-000002.vmdk", 2048, age_days=64)
    write_file(sim, "[LocalDS_0] decommissioned-db/decommissioned-db-000002-flat.vmdk", 2 * 1024 * 1024, age_days=64)
    write_file(sim, "[LocalDS_0] decommissioned-db/decommissioned-db-Snapshot4.vmsn", 32 * 1024, age_days=64)
    write_file(sim, "[LocalDS_0] old-web/old-web-Snapshot1.vmem", 512 * 1024, age_days=120)
    write_file(sim, f"{hidden}/disk1-000003.vmdk", 700, age_days=30)
    session.close()


def main() -> int:
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    work = tempfile.mkdtemp(prefix="orphans-shot-")
    sim = Vcsim(binary=vcsim_binary(), workdir=work,
                args=_options_to_args(host=1, vm=2, hide_refs=[f"{USER}:DC0_C0_RP0_VM1"]))
    sim.start()
    try:
        build_world(sim, work)
        home = Path(work) / "home"
        home.mkdir()
        (home / "policy.json").write_text(json.dumps({"role": "admin"}))
        os.environ["VMRESTORE_POLICY"] = str(home / "policy.json")

        import qasync
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication, QWizard

        from vmrestore.app.bootstrap import build_services
        from vmrestore.app.secrets import MemorySecretStore
        from vmrestore.ui.snapshots.orphans_wizard import OrphanWizard

        app = QApplication.instance() or QApplication([])
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        services = build_services(str(home), secrets=MemorySecretStore())
        services.connection.open_blocking(sim.url, USER, sim.password, thumbprint=sim.thumbprint)
        use = services.snapshots.orphans
        report = use.list_blocking()

        async def shoot() -> None:
            wizard = OrphanWizard(use, report)
            wizard.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
            wizard.resize(1024, 700)
            wizard.show()
            pick = wizard.pick_page
            for i in range(pick.list.topLevelItemCount()):
                row = pick.list.topLevelItem(i)
                if row is not None and row.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                    row.setCheckState(0, Qt.CheckState.Checked)
            await asyncio.sleep(0.3)
            wizard.grab().save(str(out_dir / "orphans-pick.png"))
            wizard.next()
            for _ in range(200):
                if wizard.plan_page.isComplete():
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            wizard.grab().save(str(out_dir / "orphans-plan.png"))
            print(wizard.button(QWizard.WizardButton.CommitButton).text())
            wizard.reject()

        loop.run_until_complete(shoot())
        services.close()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
