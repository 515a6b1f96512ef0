"""Acceptance: a new user, an empty home folder, the keyboard only — to a folder restored on disk.

The real app starts (``run_app``: the real composition root, start-up sweep, first-run check) in a home
folder that does not exist yet, against the real vCenter simulator and a ghettoVCB repository of real disk
images. Every step is a key press where the user's focus is: the first run (connect with the thumbprint
prompt, add the repository, test it, index it), then the Restore points tree (arrow keys down to
web01 › newest point › Disk 0 › Volume 1 › Users › alice › Documents), Alt+R "Restore to this computer…",
the target typed, Enter. The test then reads the restored bytes from disk and the audit log, and starts
the app a second time to see that the first run is not shown again.

The only non-key call is ``activateWindow()`` after a dialog closes: what the window manager does on a
desktop (the offscreen test platform has none).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from tests.bench.disk_fixtures import BackupRepo
from tests.bench.vcsim_fixtures import Vcsim
from vmrestore.app.bootstrap import build_services
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.ui.application import run_app
from vmrestore.ui.cert_dialogs import ThumbprintPrompt
from vmrestore.ui.connect_dialog import ConnectDialog
from vmrestore.ui.first_run import FirstRunWizard
from vmrestore.ui.main_window import MainWindow
from vmrestore.ui.restore.restore_flow import RestoreDialog

pytestmark = [pytest.mark.vcsim, pytest.mark.disktools, pytest.mark.slow]

ALT, CTRL = Qt.KeyboardModifier.AltModifier, Qt.KeyboardModifier.ControlModifier


async def until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class Keyboard:
    """Keys go where the focus is, as on a real desktop; nothing is clicked."""

    def __init__(self, qtbot: Any) -> None:
        self.qtbot = qtbot
        self.pressed: list[str] = []

    def focus(self) -> QWidget:
        widget = QApplication.focusWidget()
        assert widget is not None, "no widget has the keyboard focus"
        return widget

    def press(self, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        self.pressed.append(f"{modifier.name}+{key.name}")
        self.qtbot.keyClick(self.focus(), key, modifier)

    def type(self, text: str) -> None:
        self.pressed.append(f"type {text!r}")
        self.qtbot.keyClicks(self.focus(), text)


def shown(kind: type) -> Any:
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
    return found[0] if found else None


async def active(kind: type, what: str) -> Any:
    await until(lambda: shown(kind) is not None, what=what)
    window = shown(kind)
    await until(window.isActiveWindow, what=f"{what} to be active")
    return window


async def reactivate(window: QWidget) -> None:
    window.activateWindow()  # the window manager's part when a dialog closes
    await until(window.isActiveWindow, what="the window to be active again")


async def walk_tree(keys: Keyboard, window: MainWindow, names: list[str]) -> None:
    """Down arrow to each name in turn, Right arrow to open it (its children are listed lazily)."""
    page = window.pages["points"]
    tree = page.tree
    assert tree.hasFocus(), "Finish should leave the focus in the restore points tree"
    for depth, name in enumerate(names):
        for _ in range(40):
            current = tree.currentIndex()
            if current.isValid() and str(current.data()).startswith(name):
                break
            keys.press(Qt.Key.Key_Down)
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"{name!r} not reached with the Down key")
        if depth < len(names) - 1:
            keys.press(Qt.Key.Key_Right)  # expand
            opened = tree.currentIndex()
            await until(lambda i=opened: page.tree_model.rowCount(i) > 0, what=f"{name} to list")


def test_new_user_restores_a_folder_with_the_keyboard_only(
    qapp: QApplication, qtbot: Any, tmp_path: Path, backup_repo: BackupRepo, vcsim_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim: Vcsim = vcsim_factory()
    home = tmp_path / "new-user" / "vmrestore"
    assert not home.exists()
    target = tmp_path / "restored for alice"
    monkeypatch.setenv("VMRESTORE_POLICY", str(tmp_path / "no-policy.json"))
    monkeypatch.delenv("VMRESTORE_CATALOG", raising=False)
    keys = Keyboard(qtbot)
    results: dict[str, Any] = {}

    def services() -> Any:
        return build_services(str(home), secrets=MemorySecretStore())

    async def new_user(window: MainWindow) -> None:
        # -- first run, step 1: connect (thumbprint prompt included) ---------------------------------
        wizard: FirstRunWizard = await active(FirstRunWizard, "the first run")
        keys.press(Qt.Key.Key_C, ALT)  # &Connect to vCenter…
        connect: ConnectDialog = await active(ConnectDialog, "the connect dialog")
        assert connect.url_edit.hasFocus()
        keys.type(f"{sim.host}:{sim.port}")
        keys.press(Qt.Key.Key_Tab)
        keys.type(sim.username)
        keys.press(Qt.Key.Key_Tab)
        keys.type(sim.password)
        keys.press(Qt.Key.Key_Return)
        prompt: ThumbprintPrompt = await active(ThumbprintPrompt, "the thumbprint prompt")
        shown_print = prompt.thumbprint_label.text().replace(":", "").replace(" ", "").lower()
        assert sim.thumbprint.replace(":", "").lower() in shown_print
        keys.press(Qt.Key.Key_T, ALT)  # &Trust and connect
        await until(lambda: window._services.connection.identity is not None, what="the login")
        await until(lambda: shown(ConnectDialog) is None, what="the connect dialog to close")
        await reactivate(wizard)
        assert "Connected to" in wizard.connect_page.state.text()

        # -- step 2: the repository, tested, added ---------------------------------------------------
        keys.press(Qt.Key.Key_N, ALT)  # &Next >
        await until(lambda: wizard.currentId() == 1, what="the repository page")
        form = wizard.repository_page.form
        assert form.name_edit.hasFocus()
        keys.type("nas01")
        keys.press(Qt.Key.Key_Tab)
        assert form.path_edit.hasFocus()
        keys.type(str(backup_repo.root))
        keys.press(Qt.Key.Key_T, ALT)  # &Test
        await until(lambda: form.last_check is not None, what="the folder test")
        assert "5 restore point(s) of 2 VM(s)" in form.result_label.text()
        keys.press(Qt.Key.Key_N, ALT)  # &Next >: adds the repository, then moves on
        await until(lambda: wizard.currentId() == 2, what="the index page")

        # -- step 3: the first index, with progress --------------------------------------------------
        await until(lambda: wizard.index_page.handle is not None and wizard.index_page.handle.is_finished,
                    timeout=120, what="the first index")
        assert wizard.index_page.state.text().startswith("✔ Done: 5 restore point(s) found")
        assert wizard.index_page.progress.value() == 100
        keys.press(Qt.Key.Key_F, ALT)  # &Finish
        await until(lambda: shown(FirstRunWizard) is None, what="the first run to close")
        await reactivate(window)

        # -- browse to the folder and restore it -----------------------------------------------------
        page = window.pages["points"]
        await until(lambda: page.tree_model.vm_names() == ["db01", "web01"], what="the restore points")
        newest = f"{backup_repo.points['web01'][-1].created:%Y-%m-%d}"
        await walk_tree(keys, window, ["web01", newest, "Disk 0", "Volume 1", "Users", "alice", "Documents"])
        keys.press(Qt.Key.Key_R, ALT)  # &Restore to this computer…
        dialog: RestoreDialog = await active(RestoreDialog, "the restore dialog")
        assert dialog.target_edit.hasFocus()
        keys.press(Qt.Key.Key_A, CTRL)
        keys.type(str(target))
        finished: list[Any] = []
        page.restoreFinished.connect(finished.append)
        keys.press(Qt.Key.Key_Return)  # &Restore
        await until(lambda: finished, timeout=60, what="the restore")
        results["restore"] = finished[0]
        summary: QMessageBox = await active(QMessageBox, "the restore summary")
        assert summary.objectName() == "restoreSummary"
        keys.press(Qt.Key.Key_Return)
        await until(lambda: shown(QMessageBox) is None, what="the summary to close")
        await reactivate(window)
        keys.press(Qt.Key.Key_Q, CTRL)  # File › Quit

    assert run_app(qapp, services, on_ready=new_user) == 0, keys.pressed

    result = results["restore"]
    assert result is not None and result.files == 2
    docs = target / "Documents"
    assert (docs / "Q3-report.xlsx").read_bytes() == ("report v3\n" * 50).encode()
    assert (docs / "new-on-day-2.docx").read_bytes() == b"PK\x03\x04 day two"
    assert sorted(p.name for p in docs.iterdir()) == ["Q3-report.xlsx", "new-on-day-2.docx"]
    settings = json.loads((home / "settings.json").read_text())
    assert settings["first_run_done"] is True
    assert settings["last_server"] and settings["last_user"] == sim.username
    audit = [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
    assert [e["action"] for e in audit if e["action"] in ("repo_add", "extract")] == ["repo_add", "extract"]
    assert all(e["result"] == "ok" for e in audit)

    # A second start: the first run is done and is not shown again.
    seen: dict[str, Any] = {}

    async def second(window: MainWindow) -> None:
        await asyncio.sleep(0.3)
        seen["wizard"] = shown(FirstRunWizard)
        window.close()

    assert run_app(qapp, services, on_ready=second) == 0
    assert seen["wizard"] is None
