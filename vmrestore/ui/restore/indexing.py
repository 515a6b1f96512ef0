"""“Index now”: queue the index job through the restore use case and say how it went.

The role gate is the use case's (the CLI's ``catalog index`` passes the same one); the job runs on the
scheduler, so the Jobs page shows its progress and can cancel it. This module only asks and reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from ..errors import describe, show_error
from .ports import RestoreServices


async def index_now(parent: QWidget, services: RestoreServices, repo_filter: str | None, status: QLabel,
                    button: QPushButton, reload: Callable[[], Awaitable[None]]) -> Any:
    """Index the chosen repository (or all); returns the job's handle once it ended, or None."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.run_in_executor(None, services.catalog.repositories)
        repos = [i.repo for i in infos if repo_filter in (None, i.repo.name)]
        handle = services.restore.start_index(repos)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        show_error(parent, exc, context="The index job could not be started.")
        return None
    status.setText(f"{handle.title}: running; progress is on the Jobs page.")
    button.setEnabled(False)
    try:
        await handle.wait()
    finally:
        button.setEnabled(True)
    if handle.error is not None:
        status.setText(f"{handle.title} failed: {describe(handle.error).text}")
        return handle
    report = handle.result
    problems = f", {len(report.errors)} problem(s) (see Jobs)" if report and report.errors else ""
    found = f"{report.points_added} new restore point(s), {report.files_indexed} files indexed" if report else ""
    await reload()
    status.setText(f"{handle.title}: done — {found}{problems}.")
    return handle
