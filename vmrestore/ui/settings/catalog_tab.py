"""Settings › Catalog: embedded (a SQLite file here) or shared (PostgreSQL), test, and migrate (issue 12 §4).

The tab only asks and shows. "Test connection" runs ``TestCatalogConnection`` on an executor thread and shows
its plain words; the password field is joined to the URL only in memory and handed to ``SettingsEditor``,
which keeps the URL in settings.json and the password in the keyring. "Migrate this catalog to the shared
server…" first shows what will be copied (``MigrateCatalog.plan``), then a button naming the copy runs the
migrate job in Jobs. Changing where the catalog lives and migrating are admin-only: greyed for helpdesk
with the reason; testing is open to every role.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from vmrestore.app.catalog_secret import location_with_password
from vmrestore.model import JobState

from ..errors import describe
from ..tasks import TaskSet, call_io
from .repositories_tab import reason_label

SHARED_PREFIXES = ("postgresql://", "postgres://")


class CatalogTab(QWidget):
    def __init__(self, services: Any, reason: str | None, parent: QWidget) -> None:
        super().__init__(parent)
        self._services = services
        self._reason = reason
        self._tasks = TaskSet()
        self._plan: Any = None
        saved = services.settings.catalog_location or ""
        shared = saved.startswith(SHARED_PREFIXES)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "The catalog indexes every file of every restore point for search. Embedded: a file on this "
            "computer. Shared: one PostgreSQL database for every workstation of the team (the password is kept "
            f"in Windows Credential Manager, never in the settings file). In use now: "
            f"{services.catalog.location}. A change takes effect at the next start.", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(reason_label(self, reason))

        self.embedded_radio = QRadioButton("&Embedded (this computer)", self)
        self.shared_radio = QRadioButton("S&hared (PostgreSQL)", self)
        self.embedded_radio.setObjectName("catalogEmbedded")
        self.shared_radio.setObjectName("catalogShared")
        group = QButtonGroup(self)
        group.addButton(self.embedded_radio)
        group.addButton(self.shared_radio)
        (self.shared_radio if shared else self.embedded_radio).setChecked(True)
        choice = QHBoxLayout()
        choice.addWidget(self.embedded_radio)
        choice.addWidget(self.shared_radio)
        choice.addStretch(1)
        layout.addLayout(choice)

        form = QFormLayout()
        self.file_edit = QLineEdit("" if shared else saved, self)
        self.file_edit.setObjectName("catalogLocation")
        self.file_edit.setAccessibleName("Catalog file")
        self.file_edit.setPlaceholderText("empty: catalog.sqlite in the data folder")
        self.file_label = QLabel("Catalog &file:", self)
        self.file_label.setBuddy(self.file_edit)
        form.addRow(self.file_label, self.file_edit)
        self.url_edit = QLineEdit(saved if shared else "", self)
        self.url_edit.setObjectName("catalogUrl")
        self.url_edit.setAccessibleName("Shared catalog URL")
        self.url_edit.setPlaceholderText("postgresql://user@server/vmrestore?sslmode=verify-full&sslrootcert=C:/ca.pem")
        self.url_label = QLabel("Server &URL:", self)
        self.url_label.setBuddy(self.url_edit)
        form.addRow(self.url_label, self.url_edit)
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("catalogPassword")
        self.password_edit.setAccessibleName("Shared catalog password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("empty: the one saved in the keyring")
        self.password_label = QLabel("Pass&word:", self)
        self.password_label.setBuddy(self.password_edit)
        form.addRow(self.password_label, self.password_edit)
        layout.addLayout(form)

        buttons = QHBoxLayout()
        self.test_button = QPushButton("&Test connection", self)
        self.test_button.setObjectName("catalogTest")
        self.test_button.clicked.connect(lambda: self._tasks.spawn(self.test(), name="catalog-test"))
        self.migrate_button = QPushButton("&Migrate this catalog to the shared server…", self)
        self.migrate_button.setObjectName("catalogMigrate")
        self.migrate_button.clicked.connect(lambda: self._tasks.spawn(self.show_plan(), name="catalog-plan"))
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.migrate_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.result_label = QLabel("", self)
        self.result_label.setObjectName("catalogResult")
        self.result_label.setWordWrap(True)
        self.result_label.setAccessibleName("Catalog test result")
        layout.addWidget(self.result_label)
        self.copy_button = QPushButton("", self)
        self.copy_button.setObjectName("catalogCopy")
        self.copy_button.setVisible(False)
        self.copy_button.clicked.connect(lambda: self._tasks.spawn(self.migrate(), name="catalog-migrate"))
        copy_row = QHBoxLayout()
        copy_row.addWidget(self.copy_button)
        copy_row.addStretch(1)
        layout.addLayout(copy_row)
        layout.addStretch(1)
        self.embedded_radio.toggled.connect(self._update)
        self.url_edit.textChanged.connect(self._update)
        self._update()

    # -- state ---------------------------------------------------------------------------------------
    def _update(self) -> None:
        admin = self._reason is None
        shared = self.shared_radio.isChecked()
        self.embedded_radio.setEnabled(admin)
        self.shared_radio.setEnabled(admin)
        self.file_edit.setEnabled(admin and not shared)
        self.url_edit.setEnabled(admin and shared)
        self.password_edit.setEnabled(admin and shared)
        self.test_button.setEnabled(shared and bool(self.url_edit.text().strip()))
        self.migrate_button.setEnabled(admin and shared and bool(self.url_edit.text().strip())
                                       and self._services.catalog_migration.local)
        tip = self._reason or ("" if self._services.catalog_migration.local
                               else "This workstation already uses a shared catalog: nothing local to copy.")
        self.migrate_button.setToolTip(tip)
        self.copy_button.setVisible(False)

    def location(self) -> str:
        """What Settings saves: the file, or the URL (with the typed password, split off again by the editor)."""
        if self.embedded_radio.isChecked():
            return self.file_edit.text()
        return location_with_password(self.url_edit.text(), self.password_edit.text())

    def field(self) -> QWidget:
        return self.file_edit if self.embedded_radio.isChecked() else self.url_edit

    # -- actions -------------------------------------------------------------------------------------
    async def test(self) -> None:
        self.result_label.setText("Testing the connection…")
        self.test_button.setEnabled(False)
        try:
            result = await self._services.catalog_test.check_async(self.url_edit.text().strip(),
                                                                     self.password_edit.text() or None)
        finally:
            self.test_button.setEnabled(True)
        self.result_label.setText(("Connection works. " if result.ok else "Connection failed. ") + result.message)

    async def show_plan(self) -> None:
        use = self._services.catalog_migration
        try:
            plan = await call_io(use.plan)
        except Exception as exc:
            self.result_label.setText(describe(exc).text)
            return
        self._plan = plan
        self.result_label.setText(
            f"Will copy {plan.points} restore points and {plan.entries:,} indexed file entries from {plan.source} "
            f"into the empty shared catalog at the URL above. This computer's file stays as it is.")
        self.copy_button.setText(f"Cop&y {plan.points} restore points to the shared catalog")
        self.copy_button.setVisible(True)
        self.copy_button.setFocus()

    async def migrate(self) -> None:
        self.copy_button.setVisible(False)
        target = self.location()
        try:
            job = self._services.catalog_migration.job(target)
        except Exception as exc:
            self.result_label.setText(describe(exc).text)
            return
        self.result_label.setText("Copying… (progress in Jobs)")
        handle = self._services.scheduler.submit(job)
        result = await handle.wait()
        if handle.state is not JobState.DONE:
            error = describe(handle.error).text if handle.error else "cancelled; the shared catalog is as it was"
            self.result_label.setText(f"The copy failed: {error}")
            return
        self.result_label.setText(
            f"Copied {result.points} restore points and {result.entries:,} indexed file entries to {result.target}. "
            "Choose OK to use the shared catalog from the next start.")
