"""Work-arounds for defects of the Qt binding that would otherwise crash the app.

PySide6 6.12.0 on CPython 3.11 returns singletons without taking a reference (measured here):

* ``SignalInstance.emit()`` returns ``True`` unowned, so each emit from Python code (ours, and qasync's
  ``call_soon_threadsafe``, i.e. every ``run_in_executor`` completion) takes one reference from ``True``;
* an invalid ``QVariant`` converted to Python (``index.data()`` of an empty cell, ``QObject.property`` of an
  unknown name) returns ``None`` unowned, taking one reference from ``None``.

``True`` starts with a few hundred references: after that many emits the interpreter aborts with "Fatal
Python error: bool_dealloc" (or ``none_dealloc``) — minutes into a job with progress updates. CPython 3.12+
makes these singletons immortal (PEP 683), where the defect is harmless.

``guard_singleton_refcounts()`` detects the defect and, only if present, gives ``True``, ``False`` and
``None`` so many extra references that no session can use them up — what 3.12 does for every program. The
real fix is a PySide6 without the defect or Python >= 3.12; this keeps a workstation with neither alive.
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


def binding_loses_references() -> bool:
    """True when signal emits or QVariant conversions take references away from ``True``/``None``."""
    if sys.version_info >= (3, 12) or platform.python_implementation() != "CPython":
        return False
    probe = _Probe()
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(8):
        probe.ping.emit()
        probe.property("vmrestore-no-such-property")
    after = sys.getrefcount(True), sys.getrefcount(None)
    return after[0] < before[0] or after[1] < before[1]


def guard_singleton_refcounts() -> bool:
    """Apply the work-around if this interpreter + binding needs it; returns whether it was applied."""
    global _guarded
    if _guarded:
        return True
    if not binding_loses_references():
        return False
    for value in (True, False, None):
        # CPython < 3.12: ob_refcnt is the first field of every object (Py_ssize_t).
        ctypes.c_ssize_t.from_address(id(value)).value += _EXTRA_REFERENCES
    _guarded = True
    log.warning(
        "This PySide6 (%s) loses references to True/None on signal emits on Python %s; applied the "
        "work-around (vmrestore.ui.qtcompat). Use Python >= 3.12 or a fixed PySide6.",
        _pyside_version(),
        platform.python_version(),
    )
    return True


def _pyside_version() -> str:
    import PySide6

    return str(PySide6.__version__)
