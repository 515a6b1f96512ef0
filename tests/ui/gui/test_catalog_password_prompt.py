"""The desktop app on a computer without a keyring, pointed at a password-protected shared catalog: at start it
asks for the password in a dialog (a wrong one is asked again, saying so), opens the catalog with it and keeps
it for this session only. Real app services against the bench's TLS + SCRAM PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox
from pytestqt.qtbot import QtBot

from tests.bench.postgres_auth import PASSWORD, TlsPgServer
from tests.ui.conftest import until
from tests.ui.gui.conftest import open_window
from tests.ui.gui.test_settings_dialog import open_settings
from vmrestore.app.bootstrap import AppServices, build_services
from vmrestore.app.secrets import KeyringUnavailable, MemorySecretStore
from vmrestore.app.settings_edit import SESSION_ONLY_NOTICE
from vmrestore.ui.application import run_app
from vmrestore.ui.main_window import MainWindow


class NoKeyring(MemorySecretStore):
    def set(self, server: str, user: str, secret: str) -> None:
        raise KeyringUnavailable("No password store (keyring) is available on this computer")


def test_start_asks_for_the_catalog_password(qapp: QApplication, qtbot: QtBot, tmp_path: Path,
                                             pg_tls_server: TlsPgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VMRESTORE_CATALOG", raising=False)
    db = f"team_{uuid.uuid4().hex[:8]}"
    pg_tls_server.psql(f"CREATE DATABASE {db} OWNER desk")
    clean = pg_tls_server.url(db, password=None, query=pg_tls_server.verify_full())
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.json").write_text(json.dumps({"catalog_location": clean}))
    secrets = NoKeyring()
    answers = ["Wr0ng-pw", PASSWORD]
    prompts: list[str] = []
    built: list[AppServices] = []

    def answer() -> None:
        for widget in qapp.topLevelWidgets():
            if isinstance(widget, QInputDialog) and widget.isVisible() and answers:
                assert widget.objectName() == "catalogPasswordPrompt"
                prompts.append(widget.labelText())
                widget.setTextValue(answers.pop(0))
                widget.accept()

    def factory() -> AppServices:
        services = build_services(str(home), secrets=secrets)
        built.append(services)
        return services

    seen: dict[str, object] = {}

    async def on_ready(window: MainWindow) -> None:
        seen["location"] = window._services.catalog.location
        seen["points"] = window._services.catalog.store.list_points()
        window.close()

    timer = QTimer()
    timer.timeout.connect(answer)
    timer.start(20)
    try:
        assert run_app(qapp, factory, on_ready=on_ready) == 0
    finally:
        timer.stop()
    assert len(prompts) == 2 and "session only" in prompts[0] and "ask" in prompts[0]
    assert "refused that password" in prompts[1] and "refused" not in prompts[0]
    assert seen == {"location": clean, "points": []}
    key = (f"127.0.0.1:{pg_tls_server.port}", "desk")
    assert secrets.get(*key) == PASSWORD and secrets.saved(*key) is None  # this session only
    assert len(built) == 1
    files = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert PASSWORD.encode() not in files and b"Wr0ng-pw" not in files


@pytest.mark.asyncio
async def test_settings_say_the_password_is_kept_for_this_session_only(
        qtbot: QtBot, tmp_path: Path, pg_tls_server: TlsPgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VMRESTORE_CATALOG", raising=False)
    db = f"team_{uuid.uuid4().hex[:8]}"
    pg_tls_server.psql(f"CREATE DATABASE {db} OWNER desk")
    clean = pg_tls_server.url(db, password=None, query=pg_tls_server.verify_full())
    secrets = NoKeyring()
    services = build_services(str(tmp_path / "home"), secrets=secrets)
    try:
        window = await open_window(qtbot, services, tmp_path)
        dialog = await open_settings(qtbot, window)
        alt = Qt.KeyboardModifier.AltModifier
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_L, alt)  # Cata&log
        tab = dialog.catalog
        await until(tab.isVisible, what="the catalog tab")
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_H, alt)  # S&hared
        await until(tab.shared_radio.isChecked, what="Shared chosen")
        tab.url_edit.setText(clean)
        tab.password_edit.setText(PASSWORD)
        saving = asyncio.ensure_future(dialog.save(close=True))
        await until(lambda: [b for b in dialog.findChildren(QMessageBox) if b.isVisible()], timeout=30,
                    what="the session-only notice")
        (box,) = [b for b in dialog.findChildren(QMessageBox) if b.isVisible()]
        assert box.text() == SESSION_ONLY_NOTICE
        box.accept()
        assert await saving == ["catalog_location", "catalog_password"]
        key = (f"127.0.0.1:{pg_tls_server.port}", "desk")
        assert secrets.get(*key) == PASSWORD and secrets.saved(*key) is None
        assert services.settings.catalog_location == clean
        assert PASSWORD not in Path(services.paths.settings_file).read_text()
    finally:
        services.close()
