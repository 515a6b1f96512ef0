"""Work-arounds for defects of the Qt binding that would otherwise crash the app.

PySide6 6.12.0 on CPython 3.11: ``SignalInstance.emit()`` returns ``True`` without taking a reference, so
each emit from Python code (ours, and qasync's ``call_soon_threadsafe``, i.e. every ``run_in_executor``
completion) takes one reference away from ``True``. ``True`` starts with a few hundred references; after
that many emits the interpreter aborts with "Fatal Python error: bool_dealloc". CPython 3.12+ makes
``True``/``False`` immortal (PEP 683), where the defect is harmless.

``guard_bool_refcounts()`` detects the defect by emitting one signal and, only if the count dropped, gives
``True`` and ``False`` so many extra references that no session can use them up — which is what 3.12 does
for every program. The real fix is a PySide6 without the defect or Python >= 3.12; this keeps a workstation
that has neither from crashing.
"""

from __future__ import annotations

import ctypes
import logging
import platform
import sys

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

_EXTRA_REFERENCES = 1 << 40  # ~35 years of emits at 1,000 a second
_guarded = False


class _Probe(QObject):
    ping = Signal()


def emit_loses_references() -> bool:
    """True when emitting a signal from Python takes a reference away from ``True`` or ``False``."""
    if sys.version_info >= (3, 12) or platform.python_implementation() != "CPython":
        return False
    probe = _Probe()
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(8):
        probe.ping.emit()
    after = sys.getrefcount(True), sys.getrefcount(False)
    return after[0] < before[0] or after[1] < before[1]


def guard_bool_refcounts() -> bool:
    """Apply the work-around if this interpreter + binding needs it; returns whether it was applied."""
    global _guarded
    if _guarded:
        return True
    if not emit_loses_references():
        return False
    for value in (True, False):
        # CPython < 3.12: ob_refcnt is the first field of every object (Py_ssize_t).
        ctypes.c_ssize_t.from_address(id(value)).value += _EXTRA_REFERENCES
    _guarded = True
    log.warning(
        "This PySide6 (%s) loses a reference to True on every signal emit on Python %s; applied the "
        "work-around. Use Python >= 3.12 or a fixed PySide6.",
        _pyside_version(),
        platform.python_version(),
    )
    return True


def _pyside_version() -> str:
    import PySide6

    return str(PySide6.__version__)
