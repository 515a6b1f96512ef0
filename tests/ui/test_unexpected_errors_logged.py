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
    # Another test of this process may have set up vmrestore's logging already (setup_logging then keeps it):
    # start from none of ours, and put them back afterwards.
    for handler in before:
        if getattr(handler, "_vmrestore", False):
            root.removeHandler(handler)
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    path = setup_logging(tmp_path / "logs")
    ours = [h for h in root.handlers if getattr(h, "_vmrestore", False)]
    loop = asyncio.new_event_loop()
    try:
        _log_unexpected_errors(loop)
        try:
            raise ValueError("a bug in a slot, password=hunter2")
        except ValueError:
            sys.excepthook(*sys.exc_info())
        loop.call_exception_handler({"message": "Task exception was never retrieved",
                                     "exception": RuntimeError("a forgotten task failed")})
        for handler in ours:
            handler.flush()
        text = path.read_text()
    finally:
        loop.close()
        for handler in ours:
            root.removeHandler(handler)
            handler.close()
        for handler in before:
            if handler not in root.handlers:
                root.addHandler(handler)
    assert "ERROR vmrestore.ui.application" in text
    assert "Traceback" in text and "ValueError: a bug in a slot" in text
    assert "hunter2" not in text
    assert "Task exception was never retrieved" in text and "RuntimeError: a forgotten task failed" in text
