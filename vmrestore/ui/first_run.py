"""The first run: connect to vCenter, add a backup repository, index it, in three short pages.

Shown at start while no repository is registered and the first run was never completed. Every step uses
what the rest of the app uses: the Connect dialog (with its thumbprint prompt), the repository form and
``RepositoryAdmin`` of Settings › Repositories, and the catalog's index job on the scheduler (the Jobs page
shows it too). Connecting may be skipped: browsing backups and restoring files to this computer do not
need vCenter. Finishing marks the first run done in the settings, so it is not shown again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from vmrestore.app.repositories import RepositoryAdmin
from vmrestore.app.settings_edit import admin_reason
from vmrestore.model import JobState

from .errors import describe
from .settings.repository_form import FolderPicker, RepositoryForm
from .tasks import TaskSet, call_io

log = logging.getLogger(__name__)

PAGE_CONNECT, PAGE_REPOSITORY, PAGE_INDEX = range(3)


class ConnectPage(QWizardPage):
    def __init__(self, wizard: FirstRunWizard, open_connect: Callable[[QWidget], Any] | None) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self._open_connect = open_connect
        self.setTitle("Connect to vCenter")
        self.setSubTitle("Step 1 of 3. vmrestore talks to the vCenter Server that runs your VMs.")
        text = QLabel(
            "Sign in with your vCenter account. The first time, vmrestore shows the server's certificate "
            "thumbprint: compare it with the one your vCenter administrator gave you before you trust it.<br><br>"
            "You can also skip this step: browsing backups and restoring files to this computer work without "
            "vCenter. Mounting a disk into a VM and instant recovery need it.", self)
        text.setWordWrap(True)
        self.connect_button = QPushButton("&Connect to vCenter…", self)
        self.connect_button.setObjectName("firstRunConnect")
        self.connect_button.setAccessibleName("Connect to vCenter")
        self.connect_button.setEnabled(open_connect is not None)
        self.connect_button.clicked.connect(self._connect)
        self.state = QLabel("Not connected.", self)
        self.state.setObjectName("firstRunConnectState")
        self.state.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addSpacing(8)
        layout.addWidget(self.connect_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.state)
        layout.addStretch(1)

    def _connect(self) -> None:
        if self._open_connect is not None:
            self._open_connect(self._wizard)

    def show_identity(self, identity: Any) -> None:
        if identity is None:
            self.state.setText("Not connected.")
            return
        self.state.setText(f"✔ Connected to <b>{identity.server}</b> as {identity.user}. Continue with Next.")
        self._wizard.button(QWizard.WizardButton.NextButton).setFocus()


class RepositoryPage(QWizardPage):
    def __init__(self, wizard: FirstRunWizard, admin: RepositoryAdmin, reason: str | None,
                 pick_folder: FolderPicker | None) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self._admin = admin
        self._reason = reason
        self.added: Any = None
        self.setTitle("Add your backup repository")
        self.setSubTitle("Step 2 of 3. The folder where the backups are (one sub-folder per VM).")
        self.form = RepositoryForm(admin, self, pick_folder=pick_folder)
        self.error_label = QLabel(reason or "", self)
        self.error_label.setObjectName("firstRunRepoError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.form.setEnabled(reason is None)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

    def initializePage(self) -> None:
        if self._reason is None:
            self.form.name_edit.setFocus()

    def validatePage(self) -> bool:
        """Next adds the repository (in an executor) and moves on when that worked; a refusal stays here."""
        if self.added is not None or self._reason is not None:
            return True
        self._wizard.spawn(self._add(), name="first-run-add-repo")
        return False

    async def _add(self) -> None:
        name, path, nfs = self.form.values()
        self.error_label.setText("")
        next_button = self._wizard.button(QWizard.WizardButton.NextButton)
        next_button.setEnabled(False)
        try:
            self.added = await call_io(self._admin.add, name, path, nfs or None)
        except Exception as exc:
            self.error_label.setText(describe(exc).text)
            (self.form.name_edit if "name" in str(exc).lower() else self.form.path_edit).setFocus()
            return
        finally:
            next_button.setEnabled(True)
        self._wizard.next()


class IndexPage(QWizardPage):
    def __init__(self, wizard: FirstRunWizard, services: Any) -> None:
        super().__init__(wizard)
        self._wizard = wizard
        self._services = services
        self.handle: Any = None
        self._unsubscribe: Callable[[], None] | None = None
        self.setTitle("Index the restore points")
        self.setSubTitle("Step 3 of 3. vmrestore reads every backup once, so you can browse and search them.")
        self.progress = QProgressBar(self)
        self.progress.setObjectName("firstRunProgress")
        self.progress.setAccessibleName("Indexing progress")
        self.progress.setRange(0, 100)
        self.state = QLabel("", self)
        self.state.setObjectName("firstRunIndexState")
        self.state.setWordWrap(True)
        note = QLabel("You can finish now: indexing goes on in the background and the Jobs page shows it. "
                      "Restore points can be browsed before they are indexed; search needs the index.", self)
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.state)
        layout.addWidget(self.progress)
        layout.addSpacing(8)
        layout.addWidget(note)
        layout.addStretch(1)

    def initializePage(self) -> None:
        if self.handle is None:
            self._wizard.spawn(self._start(), name="first-run-index")
        self._wizard.button(QWizard.WizardButton.FinishButton).setFocus()

    async def _start(self) -> None:
        catalog = self._services.catalog
        try:
            infos = await call_io(catalog.repositories)
            repos = [i.repo for i in infos]
            if not repos:
                self.state.setText("No repository to index yet: add one in Tools › Settings › Repositories.")
                self.progress.setValue(0)
                return
            self.handle = self._services.restore.start_index(repos)  # the use case: role gate, job
        except Exception as exc:
            self.state.setText(f"The index could not be started: {describe(exc).text}")
            return
        self._unsubscribe = self.handle.add_listener(lambda _h: self._show())
        self._show()

    def _show(self) -> None:
        handle = self.handle
        if handle is None:
            return
        fraction = handle.progress.fraction
        if handle.state is JobState.RUNNING and fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(round((fraction or 0.0) * 100))
        text = handle.progress.text or str(handle.state)
        if handle.state is JobState.DONE:
            report = handle.result
            self.progress.setRange(0, 100)
            self.progress.setValue(100)
            text = (f"✔ Done: {report.points_added} restore point(s) found, {report.files_indexed} files indexed."
                    if report is not None else "✔ Done.")
            if report is not None and report.errors:
                text += f" {len(report.errors)} problem(s): see the Jobs page."
            text += " Finish opens the restore points."
            self._wizard.indexDone.emit(handle)
        elif handle.state is JobState.FAILED:
            text = f"Indexing failed: {describe(handle.error).text if handle.error else 'see the Jobs page'}"
        elif handle.state is JobState.CANCELLED:
            text = "Indexing was cancelled."
        self.state.setText(text)

    def cleanup(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class FirstRunWizard(QWizard):
    indexDone = Signal(object)  # the index job's handle

    def __init__(self, services: Any, parent: QWidget | None = None, *,
                 open_connect: Callable[[QWidget], Any] | None = None,
                 pick_folder: FolderPicker | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._tasks = TaskSet()
        settings = services.settings
        reason = admin_reason(settings.role, bool(getattr(settings, "role_locked", False)))
        self.setObjectName("firstRunWizard")
        self.setWindowTitle("Welcome to vmrestore")
        self.setAccessibleName("Welcome to vmrestore: first run")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setButtonText(QWizard.WizardButton.NextButton, "&Next >")
        self.setButtonText(QWizard.WizardButton.BackButton, "< &Back")
        self.setButtonText(QWizard.WizardButton.FinishButton, "&Finish")
        self.setButtonText(QWizard.WizardButton.CancelButton, "Cancel")
        self.setMinimumSize(640, 460)
        self.connect_page = ConnectPage(self, open_connect)
        self.repository_page = RepositoryPage(self, services.repositories, reason, pick_folder)
        self.index_page = IndexPage(self, services)
        self.setPage(PAGE_CONNECT, self.connect_page)
        self.setPage(PAGE_REPOSITORY, self.repository_page)
        self.setPage(PAGE_INDEX, self.index_page)
        self.connect_page.show_identity(services.connection.identity)

    def spawn(self, coro: Any, *, name: str) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro, name=name)

    def done(self, result: int) -> None:
        self.index_page.cleanup()
        self._tasks.cancel_all()
        super().done(result)


async def first_run_needed(services: Any) -> bool:
    """Shown while the first run was never finished and no repository is registered (blocking reads)."""
    if getattr(services.settings, "first_run_done", True) or getattr(services, "catalog", None) is None:
        return False
    infos = await call_io(services.catalog.repositories)
    return not infos
