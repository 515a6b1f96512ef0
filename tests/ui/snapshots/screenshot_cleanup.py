"""Screenshot of the snapshot cleanup wizard's plan page against a real simulator (not a test).

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python tests/ui/snapshots/screenshot_cleanup.py \
        docs/screenshots/snapshot-cleanup-plan.png

Starts the bench simulator, takes backup-tool leftovers on three VMs with real pyVmomi calls, leaves a
backup job's task running on one of them (TaskManager.CreateTask, answered by the bench), then opens the
wizard with the real composition root's cleanup use case at 1024x700 and grabs the plan page. The
simulator's snapshots are seconds old, so the screenshot's settings turn the 24 h guard off (0): the
running task is what the "Not offered" list shows.
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
from tests.integration.snapshots.snaphelpers import grow_delta, open_session, snapshot, vms  # noqa: E402


def build_world(sim: Vcsim, tmp: str) -> None:
    session = open_session(sim, tmp)
    machines = vms(session)
    names = sorted(machines)
    a, b, c = (machines[n] for n in names[:3])
    snapshot(session, a, "before-upgrade", "taken by hand before the 4.2 upgrade")
    snapshot(session, a, "VEEAM BACKUP TEMPORARY SNAPSHOT", "Please do not delete this snapshot.")
    grow_delta(session, sim, a, 3 * 1024 * 1024)  # written after the Veeam snapshot: its cost
    snapshot(session, b, "ghettoVCB-snapshot-2026-01-31")
    grow_delta(session, sim, b, 1024 * 1024)
    snapshot(session, b, "BareosTmpSnap_jobId_4711", "Bareos Tmp Snap jobId 4711 jobName web-nightly")
    grow_delta(session, sim, b, 512 * 1024, number=2)
    snapshot(session, c, "__GX_BACKUP__")
    session.content.taskManager.CreateTask(obj=c, taskTypeId="com.commvault.vsa.backup", initiatedBy="svc-cv",
                                           cancelable=False)
    session.close()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "snapshot-cleanup-plan.png").resolve()
    work = tempfile.mkdtemp(prefix="cleanup-shot-")
    sim = Vcsim(binary=vcsim_binary(), workdir=work, args=_options_to_args(cluster=1, host=2, vm=3, ds=1))
    sim.start()
    try:
        build_world(sim, work)
        home = Path(work) / "home"
        home.mkdir()
        (home / "policy.json").write_text(json.dumps({"role": "admin"}))
        (home / "settings.json").write_text(json.dumps({"snapshot_cleanup_min_age_hours": 0}))
        os.environ["VMRESTORE_POLICY"] = str(home / "policy.json")

        import qasync
        from PySide6.QtWidgets import QApplication

        from vmrestore.app.bootstrap import build_services
        from vmrestore.app.secrets import MemorySecretStore
        from vmrestore.ui.snapshots.wizard import CleanupWizard

        app = QApplication([sys.argv[0]])
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        services = build_services(str(home), secrets=MemorySecretStore())
        services.connection.open_blocking(sim.url, sim.username, sim.password, thumbprint=sim.thumbprint)

        async def shoot() -> None:
            report = await services.snapshots.scan.run(orphans=False)
            wizard = CleanupWizard(services.snapshots.cleanup, report,
                                   default_age_days=0, min_age_hours=services.settings.snapshot_cleanup_min_age_hours)
            wizard.resize(1024, 700)
            wizard.show()
            wizard.next()
            for _ in range(200):
                if wizard.plan_page.dry is not None:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            if not wizard.grab().save(str(out), "PNG"):
                raise SystemExit(f"could not write {out}")
            print(f"saved {out}", file=sys.stderr)
            wizard.reject()

        with loop:
            loop.run_until_complete(shoot())
        services.close()
        return 0
    finally:
        sim.stop()


if __name__ == "__main__":
    sys.exit(main())
