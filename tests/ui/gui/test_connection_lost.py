"""A lost vCenter connection, against the real simulator: the status bar says so in words, Disconnect greys out.

vcsim is started, the window's real ConnectionService logs in (thumbprint pinned first, as after the prompt),
then the simulator is killed as a crashed or unreachable vCenter would be. The window's keepalive check
notices it; nothing shows "[Errno 111]".
"""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QWidget

from tests.bench.vcsim_fixtures import Vcsim
from tests.ui.conftest import until
from tests.ui.gui.conftest import open_window

pytestmark = [pytest.mark.asyncio, pytest.mark.vcsim]


class Page(QWidget):
    """A page that needs vCenter (as the Snapshots page does): it hears when the connection comes and goes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bool] = []

    def set_connected(self, connected: bool) -> None:
        self.calls.append(connected)


async def test_lost_connection_shows_in_the_status_bar(qtbot, real_services, tmp_path, vcsim_factory) -> None:
    sim: Vcsim = vcsim_factory()
    services = real_services()
    window = await open_window(qtbot, services, tmp_path)
    page = Page()
    window.pages["fake"] = page  # type: ignore[assignment]
    await services.connection.trust(f"{sim.host}:{sim.port}", sim.thumbprint)
    await services.connection.connect(sim.url, sim.username, sim.password)
    await until(lambda: window.disconnect_action.isEnabled(), timeout=30, what="connected")
    assert page.calls[-1] is True
    assert window.pages["snapshots"].scan_button.isEnabled()
    assert await services.connection.check_alive() is True

    sim.kill()
    window.check_connection()
    status = window.connection_status.server_label
    # Wait for what the user sees: the service forgets the session before the window hears of it (across an
    # executor await), so waiting on the service alone raced the window's update.
    await until(lambda: status.text().startswith("Connection lost"), timeout=30, what="the loss to be shown")
    assert services.connection.identity is None
    assert "refused the connection" in status.toolTip() or "closed the connection" in status.toolTip()
    shown = status.toolTip() + window.statusBar().currentMessage()
    assert "Errno" not in shown and "ConnectionRefusedError" not in shown
    assert not window.disconnect_action.isEnabled()
    assert page.calls[-1] is False
    scan = window.pages["snapshots"].scan_button
    assert not scan.isEnabled() and "Connect to vCenter first" in scan.toolTip()
