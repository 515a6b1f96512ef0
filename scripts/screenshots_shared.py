"""Screenshots of a shared (PostgreSQL) catalog as one desk of a team sees it, from the real app at 1024x700.

    xvfb-run -a -s "-screen 0 1024x700x24" .venv/bin/python scripts/screenshots_shared.py docs/screenshots

A throwaway PostgreSQL cluster (the test harness's, Debian's ``postgresql``) holds the catalog of two
workstations' homes. Desk A mounts a restore point onto a VM (a lease adopting its journalled disk, as
``mount start`` leaves it); desk B, this app started by the real composition root, has a mount of its own.
Shot: the Mounted page listing both, the colleague's row selected (its actions disabled, the tooltip naming
the desk). No vCenter is needed: the page reads only the catalog.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.screenshots import Shooter, until
from tests.bench.postgres_fixtures import start_server
from vmrestore.app.bootstrap import AppServices, build_services
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.ui.application import run_gui
from vmrestore.ui.main_window import MainWindow


def _mount(services: AppServices, lease_id: str, vm: str, user: str) -> None:
    """A live mount as ``mount start`` leaves it: the journalled disk handed to a lease."""
    disk = services.journal.begin("job1", "vsphere.disk_attached", f"vm:{vm}", {},
                                  {"vm": vm, "file": "[backup-nfs] web01/web01.vmdk"})
    services.leases.adopt(lease_id, "mount", user, timedelta(hours=2),
                          {"vm": vm, "vm_name": f"{vm}-helpdesk", "letter": "R",
                           "point": "main/web01/web01-2024-05-03_22-00-05", "disk": 0}, [disk])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vmrestore-shared-shots-"))
    server = start_server()
    try:
        os.environ["VMRESTORE_CATALOG"] = server.url(server.create_database())
        os.environ["VMRESTORE_POLICY"] = str(work / "policy.json")
        desk_a = build_services(str(work / "desk-a"), secrets=MemorySecretStore())
        _mount(desk_a, "m-1a2b3c4d", "vm-101", "alice")
        os.environ["VMRESTORE_HOME"] = str(work / "desk-b")
        shooter = Shooter(out)

        async def on_ready(window: MainWindow) -> None:
            try:
                services = window._services  # the script reads the window's own services
                if window.tools.first_run is not None:  # a new home: this desk skips the first run
                    window.tools.first_run.reject()
                _mount(services, "m-5e6f7a8b", "vm-102", "bob")
                window.show_area("mounts")
                page = window.pages["mounts"]
                page.refresh()  # type: ignore[attr-defined]
                await until(lambda: page.model.rowCount() == 2, 30, "both mounts")  # type: ignore[attr-defined]
                page.table.selectRow(1)  # type: ignore[attr-defined]
                await shooter.shot("shared-mounted-colleague")
            finally:
                window.close()

        def services_factory(*a: object, **k: object) -> AppServices:
            return build_services(*a, secrets=MemorySecretStore(), **k)  # type: ignore[arg-type]

        return run_gui(services_factory, [sys.argv[0]], on_ready=on_ready)
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
