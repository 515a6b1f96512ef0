"""The audit view (real AuditLog in tmp_path) and the error wording."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from tests.ui.conftest import until
from tests.ui.fakes import RealEngine
from vmrestore import errors
from vmrestore.ui.audit_model import AuditModel
from vmrestore.ui.audit_view import AuditView
from vmrestore.ui.errors import describe


def fill(engine: RealEngine, n: int) -> None:
    for i in range(n):
        engine.audit.append(
            action="extract",
            target=f"fileserver01 /Users/alice/file{i}.docx",
            result="ok" if i % 2 == 0 else "failed:no_permission",
            role="helpdesk",
            vcenter_user="CORP\\alice",
            detail={"bytes": 1024 * i},
        )


@pytest.mark.asyncio
async def test_audit_entries_and_chain_ok(qtbot: QtBot, engine: RealEngine) -> None:
    fill(engine, 3)
    view = AuditView(engine.audit)
    qtbot.addWidget(view)
    view.show()  # the first show loads the log
    await until(lambda: view.model.rowCount() == 3, what="entries")
    model = view.model
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert headers == list(AuditModel.HEADERS)
    newest = model.index(0, AuditModel.COL_TARGET).data()
    assert newest == "fileserver01 /Users/alice/file2.docx"
    assert model.index(0, AuditModel.COL_VC_USER).data() == "CORP\\alice"
    assert model.index(0, AuditModel.COL_ROLE).data() == "helpdesk"
    assert model.index(1, AuditModel.COL_RESULT).data() == "failed:no_permission"
    assert model.index(0, AuditModel.COL_TIME).data()  # local time text
    assert model.index(0, 0).data(AuditModel.RowRole).seq > model.index(1, 0).data(AuditModel.RowRole).seq

    view.verify_button.click()
    await until(lambda: view.status.text().startswith(("✔", "✘")), what="verification")
    assert view.status.text().startswith("✔ Chain intact: 3 entries")


@pytest.mark.asyncio
async def test_audit_tampering_is_reported(qtbot: QtBot, engine: RealEngine) -> None:
    fill(engine, 3)
    log_file = Path(engine.home / "audit.log")
    text = log_file.read_text(encoding="utf-8")
    log_file.write_text(text.replace("file1.docx", "fileX.docx"), encoding="utf-8")
    view = AuditView(engine.audit)
    qtbot.addWidget(view)
    await view.run_verify()
    assert view.status.text().startswith("✘ Chain BROKEN")
    assert "•" in view.status.text()  # the problems are listed


@pytest.mark.asyncio
async def test_audit_model_pages_lazily(qtbot: QtBot, qtmodeltester, engine: RealEngine) -> None:  # type: ignore[no-untyped-def]
    fill(engine, 3)
    entries = engine.audit.entries()
    model = AuditModel()
    many = entries * 400  # 1,200 rows
    model.PAGE = 500
    model.set_entries(many)
    assert model.rowCount() == 500
    assert model.canFetchMore(model.index(-1, -1))
    model.fetchMore(model.index(-1, -1))
    assert model.rowCount() == 1000
    model.fetchMore(model.index(-1, -1))
    assert model.rowCount() == 1200 and not model.canFetchMore(model.index(-1, -1))
    qtmodeltester.check(model)


def test_errors_are_turned_into_words() -> None:
    denied = describe(errors.PermissionDenied("Datastore.Browse", "datastore1"))
    assert denied.title == "Permission denied by vCenter"
    assert "“Datastore.Browse” on datastore1" in denied.text
    role = describe(errors.RoleDenied("helpdesk", "instant_recovery"))
    assert role.title == "Not allowed for your role"
    assert "The helpdesk role may not instant recovery" in role.text
    changed = describe(errors.CertificateChanged("vc01", "AA:BB", "CC:DD"))
    assert "AA:BB" in changed.text and "CC:DD" in changed.text and "CHANGED" in changed.title
    assert describe(errors.Transient("vc01 did not answer")).title == "Connection problem"
    assert describe(errors.InsufficientSpace("datastore1 is full")).text == "datastore1 is full"
    assert describe(errors.AuthFailed("Wrong user name or password")).title == "Sign-in failed"
    bug = describe(KeyError("x"))
    assert bug.title == "Unexpected error" and "KeyError" in bug.text
