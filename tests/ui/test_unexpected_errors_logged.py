"""Unexpected errors reach the log file (a GUI app on Windows has no console): a slot's exception and a
forgotten task's exception, with their tracebacks; passwords are scrubbed on the way."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from vmrestore.app.logging_setup import setup_logging
from vmrestore.ui.application import _log_unexpected_errors


def test_slot_and_task_errors_are_written_to_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    path = setup_logging(tmp_path / "logs")
    loop = asyncio.new_event_loop()
    try:
        _log_unexpected_errors(loop)
        try:
            raise ValueError("a bug in a slot, password=hunter2")
        except ValueError:
            sys.excepthook(*sys.exc_info())
        loop.call_exception_handler({"message": "Task exception was never retrieved",
                                     "exception": RuntimeError("a forgotten task failed")})
        for handler in root.handlers:
            handler.flush()
        text = path.read_text()
    finally:
        loop.close()
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
    assert "ERROR vmrestore.ui.application" in text
    assert "Traceback" in text and "ValueError: a bug in a slot" in text
    assert "hunter2" not in text
    assert "Task exception was never retrieved" in text and "RuntimeError: a forgotten task failed" in text
