"""The Mounted page with a shared catalog: a colleague's live mount is listed with the workstation and user
that made it and when, and Extend/Copy/Unmount are offered only for this workstation's own mounts (issue 12 §2).

Real app services of two workstations (two homes) on one real PostgreSQL catalog (a throwaway cluster); the
colleague's mount is a lease adopting journal entries, as ``mount start`` makes it. No vCenter is needed:
the list reads only the catalog.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import until
from vmrestore.app.bootstrap import AppServices, build_services
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.ui.mounts.page import MountedPage, MountsModel

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    """Torn down last (after the test's qasync loop closed), as in the instant UI tests."""
    yield
    gc.collect()


@pytest.fixture
def desks(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AppServices, AppServices]]:
    monkeypatch.setenv("VMRESTORE_CATALOG", pg_url)
    a = build_services(str(tmp_path / "a"), secrets=MemorySecretStore())
    b = build_services(str(tmp_path / "b"), secrets=MemorySecretStore())
    yield a, b
    for s in (a, b):
        with contextlib.suppress(Exception):
            s.close()


def _mount(s: AppServices, lease_id: str, vm: str, user: str) -> None:
    """A live mount as ``mount start`` leaves it: the journalled disk handed to a lease."""
    disk = s.journal.begin("job1", "vsphere.disk_attached", f"vm:{vm}", {}, {"vm": vm, "file": "[x] d.vmdk"})
    s.leases.adopt(lease_id, "mount", user, timedelta(hours=2),
                   {"vm": vm, "vm_name": f"{vm}-name", "letter": "R", "point": "main/FS01/p1", "disk": 0}, [disk])


def _cell(page: MountedPage, row: int, column: str) -> Any:
    model = page.model
    return model.data(model.index(row, MountsModel.COLUMNS.index(column)))


async def test_a_colleagues_mount_is_listed_but_acted_on_there(qtbot: Any,
                                                               desks: tuple[AppServices, AppServices]) -> None:
    a, b = desks
    _mount(a, "m-0000000a", "vm-1", "alice")  # desk A's: a colleague's, seen from desk B
    _mount(b, "m-0000000b", "vm-2", "bob")  # desk B's own
    page = MountedPage(b)
    page.resize(1200, 500)
    page.show()
    await until(lambda: page.model.rowCount() == 2, 20, "both mounts in the list")
    try:
        assert [_cell(page, r, "Session") for r in range(2)] == ["m-0000000b", "m-0000000a"]
        where = f"{a.owner.host} ({a.owner.user})"  # desk A's process, as the shared catalog recorded it
        assert _cell(page, 1, "User") == "alice" and _cell(page, 1, "State") == f"active, on {where}"
        assert _cell(page, 0, "State") == "active"
        started = a.leases.get("m-0000000a").created
        assert _cell(page, 1, "Started (UTC)") == f"{started:%Y-%m-%d %H:%M}"
        assert page.status.text() == "1 live mount(s), 1 on other workstations"
        tip = f"Mounted from {where}: extend, copy or unmount it there"
        assert page.model.data(page.model.index(1, 0), 3) == tip  # Qt.ToolTipRole

        page.table.selectRow(1)
        for button in (page.extend_button, page.copy_button, page.unmount_button):
            assert not button.isEnabled() and button.toolTip() == tip
        assert [m.session for m in page.live_mounts()] == ["m-0000000b"]  # quitting asks only about our own
        page.table.selectRow(0)
        for button in (page.extend_button, page.copy_button, page.unmount_button):
            assert button.isEnabled() and button.toolTip() == ""

        # Once desk A stops it, it leaves desk B's list.
        a.leases.finish_stop("m-0000000a")
        page.refresh()
        await until(lambda: page.model.rowCount() == 1, 20, "the colleague's mount gone")
        assert page.status.text() == "1 live mount(s)"
    finally:  # deleted on this (the GUI) thread, as the instant UI tests do
        page.close()
        page.deleteLater()
        await asyncio.sleep(0.05)
        gc.collect()
