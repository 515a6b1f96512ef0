"""The guard against PySide6 6.12.0's lost references to True/None (Python < 3.12)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from vmrestore.ui import qtcompat


class Emitter(QObject):
    ping = Signal()


def test_many_emits_and_empty_variants_do_not_exhaust_singletons() -> None:
    qtcompat.guard_singleton_refcounts()
    emitter = Emitter()
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(5000):  # far more than True's natural reference count (~600)
        emitter.ping.emit()
        emitter.property("no-such-property")
    # Still alive (the process would have aborted otherwise) and the counts are far from zero.
    assert sys.getrefcount(True) > 1_000_000 or before_true - sys.getrefcount(True) <= 0
    assert sys.getrefcount(None) > 1_000_000 or before_none - sys.getrefcount(None) <= 0


def test_guard_is_applied_exactly_when_the_binding_loses_references() -> None:
    loses = qtcompat.binding_loses_references()
    assert qtcompat.guard_singleton_refcounts() == loses
    if loses:  # this machine's PySide6 6.12.0 on Python 3.11 does
        assert sys.getrefcount(True) > 2**39 and sys.getrefcount(None) > 2**39
