"""Settings › Catalog against the real TLS + password PostgreSQL of the bench (``tests/bench/postgres_auth.py``).

Keyboard only: Alt+L to the tab, Alt+H for Shared, Alt+U / Alt+W for URL and password, Alt+T to test, Alt+M for
the migration plan and Alt+Y for the button naming the copy; results are read back from the server (psql), the
keyring port and settings.json. The screenshot at 1024x700 goes to docs/screenshots/.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.bench.postgres_auth import PASSWORD, TlsPgServer
from tests.ui.conftest import until
from tests.ui.gui.conftest import open_window
from tests.ui.gui.test_settings_dialog import open_settings
from tests.ui.keyboard import buttons_without_key, mnemonic_conflicts
from vmrestore.catalog.sqlite_store import SqliteCatalogStore
from vmrestore.model import FileEntry, FileType, RestorePoint

pytestmark = pytest.mark.asyncio

ALT = Qt.KeyboardModifier.AltModifier
T0 = datetime(2026, 3, 1, tzinfo=UTC)
SHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


def press(qtbot, key: Qt.Key, modifier: Qt.KeyboardModifier = ALT) -> None:
    qtbot.keyClick(QApplication.focusWidget(), key, modifier)


def _local_catalog(path: Path) -> int:
    """Three restore points, two of them indexed: returns the indexed entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    store = SqliteCatalogStore(path)
    points = [RestorePoint(id=f"nas/web01/p{i}", repo="nas", vm="web01", created=T0 + timedelta(days=i),
                           path=f"/b/web01/p{i}", status="ok") for i in range(3)]
    store.upsert_points(points)
    entries = 0
    for point in points[:2]:
        files = [FileEntry(path=f"/f{j}.txt", name=f"f{j}.txt", type=FileType.FILE, size=j, mtime=T0)
                 for j in range(25)]
        entries += store.index_volume(point.id, "scsi0:0", 1, files).entries
    store.close()
    return entries


async def test_shared_catalog_test_and_migrate_with_keys(qtbot, real_services, tmp_path,
                                                         pg_tls_server: TlsPgServer) -> None:
    entries = _local_catalog(tmp_path / "home" / "catalog.sqlite")
    db = f"team_{uuid.uuid4().hex[:8]}"
    pg_tls_server.psql(f"CREATE DATABASE {db} OWNER desk")
    clean = pg_tls_server.url(db, password=None, query=pg_tls_server.verify_full())
    services = real_services()
    window = await open_window(qtbot, services, tmp_path)
    dialog = await open_settings(qtbot, window)
    press(qtbot, Qt.Key.Key_L)  # Cata&log
    tab = dialog.catalog
    await until(tab.isVisible, what="the catalog tab")
    assert tab.embedded_radio.isChecked() and not tab.url_edit.isEnabled()
    press(qtbot, Qt.Key.Key_H)  # S&hared
    await until(tab.shared_radio.isChecked, what="Shared chosen")
    press(qtbot, Qt.Key.Key_U)
    assert tab.url_edit.hasFocus()
    qtbot.keyClicks(tab.url_edit, clean)
    press(qtbot, Qt.Key.Key_W)
    assert tab.password_edit.hasFocus()
    qtbot.keyClicks(tab.password_edit, "not-it")
    press(qtbot, Qt.Key.Key_T)
    await until(lambda: tab.result_label.text().startswith("Connection failed"), timeout=20, what="the test")
    assert "Wrong user name or password" in tab.result_label.text() and "not-it" not in tab.result_label.text()
    tab.password_edit.clear()
    qtbot.keyClicks(tab.password_edit, PASSWORD)
    press(qtbot, Qt.Key.Key_T)
    await until(lambda: tab.result_label.text().startswith("Connection works"), timeout=20, what="the test")
    assert "over TLS" in tab.result_label.text()
    assert mnemonic_conflicts(dialog) == {} and buttons_without_key(dialog) == []

    press(qtbot, Qt.Key.Key_M)  # the plan first
    await until(tab.copy_button.isVisible, what="the migration plan")
    assert f"3 restore points and {entries:,} indexed file entries" in tab.result_label.text()
    assert tab.copy_button.text() == "Cop&y 3 restore points to the shared catalog"
    assert mnemonic_conflicts(dialog) == {}
    dialog.resize(1024, 700)
    await until(lambda: True)
    if os.environ.get("VMRESTORE_SCREENSHOTS") == "1":  # docs/screenshots/ is refreshed on request only
        SHOTS.mkdir(exist_ok=True)
        dialog.grab().save(str(SHOTS / "settings-catalog-shared.png"))
    assert pg_tls_server.psql("SELECT to_regclass('points') IS NULL", database=db).strip() == "t"  # nothing yet
    press(qtbot, Qt.Key.Key_Y)
    await until(lambda: tab.result_label.text().startswith("Copied"), timeout=60, what="the copy")
    assert pg_tls_server.psql("SELECT count(*) FROM points", database=db).strip() == "3"
    assert pg_tls_server.psql("SELECT sum(entries) FROM indexed_volumes", database=db).strip() == str(entries)
    assert PASSWORD not in tab.result_label.text()
    runs = [h for h in services.scheduler.jobs() if h.kind == "catalog.migrate"]  # the job the Jobs view lists
    assert len(runs) == 1 and runs[0].state == "done" and PASSWORD not in runs[0].title
    model = window.jobs_model
    shown = [str(model.data(model.index(r, c))) for r in range(model.rowCount()) for c in range(model.columnCount())]
    assert any("Copy the catalog to" in text for text in shown) and not any(PASSWORD in text for text in shown)

    assert await dialog.save(close=True) == ["catalog_location", "catalog_password"]
    assert services.settings.catalog_location == clean
    assert services.secrets.get(f"127.0.0.1:{pg_tls_server.port}", "desk") == PASSWORD
    assert PASSWORD not in Path(services.paths.settings_file).read_text()
    audit = Path(services.paths.audit_log)
    assert audit.exists() and PASSWORD not in audit.read_text()


async def test_helpdesk_sees_catalog_choice_greyed_with_the_reason(qtbot, real_services, tmp_path) -> None:
    services = real_services(role="helpdesk")
    window = await open_window(qtbot, services, tmp_path)
    dialog = await open_settings(qtbot, window)
    press(qtbot, Qt.Key.Key_L)
    tab = dialog.catalog
    await until(tab.isVisible, what="the catalog tab")
    assert not tab.shared_radio.isEnabled() and not tab.embedded_radio.isEnabled()
    assert not tab.migrate_button.isEnabled() and not tab.file_edit.isEnabled()
    assert "Only a vmrestore admin" in tab.migrate_button.toolTip()
    reasons = [w for w in tab.findChildren(type(tab.result_label)) if w.objectName() == "adminOnlyReason"]
    assert reasons and reasons[0].isVisible() and "helpdesk" in reasons[0].text()
    assert mnemonic_conflicts(dialog) == {}
